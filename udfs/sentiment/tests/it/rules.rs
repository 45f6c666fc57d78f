//! One test per VADER rule. Expected values are vaderSentiment 3.3.2's
//! `polarity_scores(text)` on CPython 3.11, as [neg, neu, pos, compound].

use nightshift_sentiment::{Scores, polarity_scores};

fn check(cases: &[(&str, [f64; 4])]) {
    for &(text, [neg, neu, pos, compound]) in cases {
        assert_eq!(
            polarity_scores(text),
            Scores {
                neg,
                neu,
                pos,
                compound
            },
            "text {text:?}"
        );
    }
}

#[test]
fn lexicon_words() {
    check(&[
        ("The soup was good.", [0.0, 0.508, 0.492, 0.4404]),
        ("The soup was dreadful.", [0.492, 0.508, 0.0, -0.4404]),
    ]);
}

#[test]
fn boosters() {
    check(&[
        ("The soup was extremely good.", [0.0, 0.556, 0.444, 0.4927]),
        ("The soup was extremely dreadful.", [0.444, 0.556, 0.0, -0.4927]),
    ]);
}

#[test]
fn dampeners() {
    check(&[
        ("The soup was slightly good.", [0.0, 0.605, 0.395, 0.3832]),
        ("The soup was somewhat dreadful.", [0.395, 0.605, 0.0, -0.3832]),
    ]);
}

#[test]
fn boosters_fade_with_distance() {
    check(&[
        ("The soup was very really good.", [0.0, 0.59, 0.41, 0.5379]),
        ("very the soup good", [0.0, 0.487, 0.513, 0.4877]),
    ]);
}

#[test]
fn all_caps_emphasis() {
    check(&[
        ("The soup was GOOD.", [0.0, 0.452, 0.548, 0.5622]),
        // Everything in capitals is no emphasis.
        ("THE SOUP WAS GOOD.", [0.0, 0.508, 0.492, 0.4404]),
        ("The soup was EXTREMELY good.", [0.0, 0.505, 0.495, 0.6028]),
        ("DON'T LIKE it", [0.57, 0.43, 0.0, -0.3924]),
    ]);
}

#[test]
fn negation() {
    check(&[
        ("The soup was not good.", [0.376, 0.624, 0.0, -0.3412]),
        ("The soup wasn't good.", [0.445, 0.555, 0.0, -0.3412]),
        ("The soup was not very good.", [0.344, 0.656, 0.0, -0.3865]),
        ("The soup isnt really that good", [0.343, 0.657, 0.0, -0.3843]),
        ("dont ever care", [0.568, 0.432, 0.0, -0.3875]),
    ]);
}

#[test]
fn never_so_and_never_this() {
    check(&[
        ("The soup was never so good.", [0.0, 0.53, 0.47, 0.6626]),
        ("The soup was never this good.", [0.0, 0.557, 0.443, 0.6084]),
        ("The soup was never good.", [0.376, 0.624, 0.0, -0.3412]),
        ("never so   bad", [0.692, 0.308, 0.0, -0.6696]),
        // The reference's precedence quirk: "so"/"this" right before scales by 1.25 without "never".
        ("so very so good", [0.0, 0.404, 0.596, 0.6618]),
    ]);
}

#[test]
fn without_doubt() {
    check(&[
        ("Without a doubt, excellent soup.", [0.0, 0.341, 0.659, 0.7013]),
        ("Without doubt excellent soup.", [0.0, 0.256, 0.744, 0.7013]),
        ("without any doubt good", [0.0, 0.285, 0.715, 0.6136]),
    ]);
}

#[test]
fn no_as_negation_and_as_word() {
    check(&[
        ("no good", [0.706, 0.294, 0.0, -0.3412]),
        ("no problem", [0.0, 0.307, 0.693, 0.3089]),
        ("No, the soup was good.", [0.0, 0.58, 0.42, 0.4404]),
        ("no soup or nice", [0.694, 0.306, 0.0, -0.5472]),
        ("no", [1.0, 0.0, 0.0, -0.296]),
        ("good no", [0.431, 0.0, 0.569, 0.1779]),
    ]);
}

#[test]
fn least() {
    check(&[
        ("This is the least good soup.", [0.325, 0.675, 0.0, -0.3412]),
        ("At least the soup was good.", [0.0, 0.633, 0.367, 0.4404]),
        ("the very least good soup", [0.0, 0.557, 0.443, 0.4902]),
        ("least good", [0.706, 0.294, 0.0, -0.3412]),
    ]);
}

#[test]
fn kind_of_and_other_dampening_bigrams() {
    check(&[
        ("The soup was kind of good.", [0.0, 0.657, 0.343, 0.3832]),
        ("The soup was sort of good.", [0.0, 0.657, 0.343, 0.3832]),
        ("The soup was kinda good.", [0.0, 0.605, 0.395, 0.3832]),
        // "kind" alone is a lexicon word.
        ("soup kind", [0.0, 0.227, 0.773, 0.5267]),
        ("the soup just enough good", [0.0, 0.605, 0.395, 0.3832]),
    ]);
}

#[test]
fn but_shifts_weight_to_the_second_clause() {
    check(&[
        (
            "The soup was good, but the bread was awful.",
            [0.309, 0.541, 0.151, -0.4678],
        ),
        (
            "The soup was good but the bread was good.",
            [0.0, 0.547, 0.453, 0.7003],
        ),
        // The reference rewrites the first equal value (list.index), not the current one.
        ("good good but good", [0.0, 0.114, 0.886, 0.775]),
        ("Good BUT bad but bad", [0.706, 0.149, 0.145, -0.8608]),
        (
            "I do not like it at all but the BREAD was VERY nice!!",
            [0.085, 0.599, 0.317, 0.7405],
        ),
    ]);
}

#[test]
fn special_case_idioms_as_the_reference_applies_them() {
    check(&[
        ("The soup was the bomb.", [0.0, 0.5, 0.5, 0.6124]),
        ("The soup is the shit.", [0.0, 0.5, 0.5, 0.6124]),
        // Idioms are only checked when the word three back is not a lexicon word: "die" stays negative.
        ("This soup is to die for.", [0.438, 0.562, 0.0, -0.5994]),
        ("yeah right, good soup", [0.0, 0.282, 0.718, 0.6249]),
        ("a real bad ass soup", [0.389, 0.333, 0.278, -0.25]),
        ("a kiss of death soup", [0.301, 0.361, 0.337, 0.0772]),
        ("badass soup", [0.0, 0.294, 0.706, 0.34]),
        ("the bus stop is good", [0.355, 0.645, 0.0, -0.296]),
    ]);
}

#[test]
fn exclamation_emphasis_caps_at_four() {
    check(&[
        ("The soup was good!", [0.0, 0.484, 0.516, 0.4926]),
        ("The soup was good!!", [0.0, 0.463, 0.537, 0.5399]),
        ("The soup was good!!!!!!!!", [0.0, 0.424, 0.576, 0.6209]),
        ("The soup was awful!!!", [0.564, 0.436, 0.0, -0.5962]),
    ]);
}

#[test]
fn question_emphasis() {
    check(&[
        ("The soup was good?", [0.0, 0.508, 0.492, 0.4404]),
        ("The soup was good??", [0.0, 0.479, 0.521, 0.504]),
        ("The soup was good???", [0.0, 0.466, 0.534, 0.533]),
        ("The soup was good?????", [0.0, 0.437, 0.563, 0.594]),
    ]);
}

#[test]
fn emoticons() {
    check(&[
        ("The soup :)", [0.0, 0.4, 0.6, 0.4588]),
        ("The soup :(", [0.592, 0.408, 0.0, -0.4404]),
        ("The soup :D", [0.0, 0.332, 0.668, 0.6166]),
        ("The soup <3", [0.0, 0.408, 0.592, 0.4404]),
    ]);
}

#[test]
fn emoji_become_their_descriptions() {
    check(&[
        ("The soup 😁", [0.0, 0.667, 0.333, 0.4588]),
        // No space is added after a description: "beaming face with smiling eyeswas".
        ("The soup😁was good", [0.0, 0.504, 0.496, 0.7096]),
        ("💘 and 💋", [0.0, 0.364, 0.636, 0.7906]),
        // "ON! arrow": the description's '!' counts as emphasis.
        ("🔛🔛🔛 good", [0.0, 0.614, 0.386, 0.5826]),
    ]);
}

#[test]
fn punctuation_stripping() {
    check(&[
        ("'good'", [0.0, 0.0, 1.0, 0.4404]),
        ("(good)", [0.0, 0.0, 1.0, 0.4404]),
        ("good...", [0.0, 0.0, 1.0, 0.4404]),
        // Stripping would leave one character, so the token stays "'k'".
        ("'k'", [0.0, 1.0, 0.0, 0.0]),
        ("**great**", [0.0, 0.0, 1.0, 0.6249]),
    ]);
}

#[test]
fn python_unicode_semantics() {
    check(&[
        ("GOOD ПРИВЕТ soup", [0.0, 0.355, 0.645, 0.5622]),
        ("ПРИВЕТ GOOD", [0.0, 0.256, 0.744, 0.4404]),
        ("Привет GOOD", [0.0, 0.216, 0.784, 0.5622]),
        // U+0295 is lowercase for the reference (Unicode 14), so "ʕGOOD" is not ALL CAPS.
        ("ʕGOOD GREAT", [0.0, 0.171, 0.829, 0.7034]),
        // KELVIN SIGN lowers to 'k': "ok".
        ("o\u{212a}", [0.0, 0.0, 1.0, 0.296]),
        // str.split() splits on Unicode spaces and the ASCII separators, not on U+200B.
        ("NOT GOOD\u{a0}soup", [0.596, 0.404, 0.0, -0.4494]),
        ("great\u{3000}soup", [0.0, 0.196, 0.804, 0.6249]),
        ("a\u{2003}b GOOD", [0.0, 0.355, 0.645, 0.5622]),
        ("good\u{1c}great", [0.0, 0.0, 1.0, 0.7906]),
        ("good\u{200b}great", [0.0, 1.0, 0.0, 0.0]),
    ]);
}
