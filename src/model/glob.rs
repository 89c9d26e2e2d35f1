//! Pure: the glob of `spec.metrics.consumerLag.groups` (`*` any run, `?` one character).

/// A consumer-group name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPattern(String);

impl GroupPattern {
    /// `None` for an empty pattern.
    pub fn new(pattern: &str) -> Option<Self> {
        (!pattern.is_empty()).then(|| GroupPattern(pattern.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches the whole pattern (iterative, with backtracking to the last `*`).
    pub fn matches(&self, name: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let n: Vec<char> = name.chars().collect();
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ni));
                    pi += 1;
                }
                Some(c) if *c == '?' || *c == n[ni] => {
                    pi += 1;
                    ni += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        pi = sp + 1;
                        ni = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("orders-*", "orders-eu", true),
            ("orders-*", "orders-", true),
            ("orders-*", "billing-orders-eu", false),
            ("*-eu", "orders-eu", true),
            ("*-eu", "orders-us", false),
            ("o?ders", "orders", true),
            ("o?ders", "oders", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("ä*", "äpfel", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(GroupPattern::new(pattern).expect("pattern").matches(name), want, "{pattern} vs {name}");
        }
        assert_eq!(GroupPattern::new(""), None);
    }

    proptest! {
        #[test]
        fn a_literal_matches_itself_and_a_star_suffix_every_extension(s in "[a-z.-]{0,12}", tail in "[a-z]{0,6}") {
            prop_assume!(!s.is_empty());
            let lit = GroupPattern::new(&s).expect("pattern");
            prop_assert!(lit.matches(&s));
            let star = GroupPattern::new(&format!("{s}*")).expect("pattern");
            let extended = format!("{s}{tail}");
            prop_assert!(star.matches(&extended));
        }
    }
}
