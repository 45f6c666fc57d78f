//! Quality on the demo lake against scikit-learn.
