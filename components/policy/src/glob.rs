//! `*` (any run, also empty) and `?` (one character) patterns, as IAM matches actions and
//! resources.

/// Whether `text` matches `pattern`; `fold_case` for actions (IAM compares them without case).
pub fn matches(pattern: &str, text: &str, fold_case: bool) -> bool {
    let same = |a: char, b: char| if fold_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || (pattern[p] != '*' && same(pattern[p], text[t]))) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", false));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/", false));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b", false));
        assert!(matches("arn:aws:s3:::b/home/*/x?", "arn:aws:s3:::b/home/ann/notes/x1", false));
        assert!(!matches("arn:aws:s3:::B/*", "arn:aws:s3:::b/k", false));
        assert!(matches("s3:get*", "s3:GetObject", true));
        assert!(matches("*", "", false));
        assert!(!matches("a*b*c", "abxxbx", false));
        assert!(matches("a*b*c", "abxxbxc", false));
    }
}
