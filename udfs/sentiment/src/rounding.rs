//! Python's `round(x, n)` for floats: round half to even on the exact binary value of `x`, then the
//! double nearest to the decimal result.

/// Powers of ten used by [`py_round`].
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// `round(x, digits)` as CPython computes it, for `digits <= 7` and `|x| < 2^20`; other inputs are
/// returned unchanged (the analyzer only rounds values in [-1, 1] to 3 or 4 digits).
pub(crate) fn py_round(x: f64, digits: usize) -> f64 {
    let Some(&scale) = POW10.get(digits) else {
        return x;
    };
    // Zeros take the general path (they round to themselves): whether a score is 0 is unpredictable.
    if !x.is_finite() || x.abs() >= (1u64 << 20) as f64 {
        return x;
    }
    // |x| = mantissa * 2^exponent exactly.
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if exponent >= 0 {
        return x;
    }
    // x * 10^digits = scaled / 2^shift exactly; scaled < 2^53 * 10^7 < 2^77. Beyond a shift of 78
    // the quotient is 0 and the remainder below half, so clamping the shift changes nothing.
    let scaled = u128::from(mantissa) * u128::from(scale);
    let shift = exponent.unsigned_abs().min(127) as u32;
    let quotient = scaled >> shift;
    let remainder = scaled & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    // Round half to even, as a sum rather than a branch.
    let quotient = quotient + u128::from((remainder > half) | ((remainder == half) & (quotient & 1 == 1)));
    // quotient < 2^20 * 10^7 < 2^44 is exact as a double; |x| < 2^20 and digits <= 7
    // keep it there. Dividing two exact doubles rounds correctly, as Python's strtod of "q e-n" does.
    let rounded = (quotient as u64) as f64 / scale as f64;
    rounded.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::py_round;

    #[test]
    fn matches_python_round() {
        // Values checked against CPython: round(x, n)
        let cases: &[(f64, usize, f64)] = &[
            (0.125, 2, 0.12),
            (0.375, 2, 0.38),
            (2.675, 2, 2.67),
            (0.5, 0, 0.0),
            (1.5, 0, 2.0),
            (0.0005, 3, 0.001),
            (0.0015, 3, 0.002),
            (0.1235, 3, 0.123),
            (0.4404499999999999, 4, 0.4404),
            (0.44045, 4, 0.4405),
            (-0.44045, 4, -0.4405),
            (0.00004, 4, 0.0),
            (0.9999999, 3, 1.0),
            (0.2, 3, 0.2),
            (1.0, 4, 1.0),
            (-1.0, 4, -1.0),
            (5e-324, 3, 0.0),
        ];
        for &(x, n, expected) in cases {
            assert_eq!(py_round(x, n), expected, "round({x}, {n})");
        }
        assert!(py_round(-0.00001, 3).is_sign_negative());
    }
}
