//! The questions the mock knows the answer to, so accuracy probes can be judged against it:
//! integer arithmetic, `What is 12 + 30?` (`+`, `-`, `*`, `x`), anywhere in the prompt. The
//! answer is the number alone; bug `wrong-answers` adds one to it.

use regex::Regex;
use std::sync::LazyLock;

/// `What is A op B`, the operands integers.
static QUESTION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)what is\s+(-?\d{1,9})\s*([-+*x×])\s*(-?\d{1,9})").ok());

/// The answer to the arithmetic question in `prompt`, if it asks one; `wrong` adds one.
pub fn answer(prompt: &str, wrong: bool) -> Option<String> {
    let c = QUESTION.as_ref()?.captures(prompt)?;
    let a: i64 = c[1].parse().ok()?;
    let b: i64 = c[3].parse().ok()?;
    let n = match &c[2] {
        "+" => a + b,
        "-" => a - b,
        _ => a * b,
    };
    Some((n + i64::from(wrong)).to_string())
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn arithmetic_is_answered_and_the_bug_is_off_by_one() {
        assert_eq!(answer("What is 2+3?", false).as_deref(), Some("5"));
        assert_eq!(
            answer("user: what is 7 * 6? Answer with a number.", false).as_deref(),
            Some("42")
        );
        assert_eq!(answer("What is 10 - 13?", false).as_deref(), Some("-3"));
        assert_eq!(answer("What is 2+3?", true).as_deref(), Some("6"));
        assert_eq!(answer("Say hello in one short sentence.", false), None);
    }
}
