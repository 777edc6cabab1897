//! Deterministic token generation: the same spec always yields the same words.
//!
//! A "token" is one word. The words come from a small fixed vocabulary, drawn by the
//! project's SplitMix64 from a key that the server derives from its seed, the prompt
//! and the request's parameters.

use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// Why a sequence ended (the OpenAI `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// A natural end: the model's own stop, or a stop string.
    Stop,
    /// The token budget ran out.
    Length,
}

impl Finish {
    /// The OpenAI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// What to generate for one sequence; travels to the engine as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenSpec {
    /// Seeds the word choice.
    pub key: u64,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Whether the model may end on its own before `max_tokens` (true when the client set no
    /// `max_tokens`); with an explicit budget exactly `max_tokens` tokens come out.
    pub natural_stop: bool,
    /// Stop strings: generation ends (finish "stop") before a word equal to one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Whether the first word gets a leading space too (completions continue a prompt).
    #[serde(default)]
    pub space_first: bool,
    /// The answer the mock knows for this prompt (`answers`): its words are the text, then
    /// the sequence stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// Common English words, about one token each in any tokenizer.
pub const WORDS: &[&str] = &[
    "the", "of", "and", "a", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on",
    "are", "as", "with", "his", "they", "at", "be", "this", "have", "from", "or", "one", "had",
    "by", "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said",
    "there", "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up",
    "other", "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make",
    "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number",
    "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
    "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part",
    "river", "engine", "model", "token", "stream", "quiet", "green", "signal",
];

/// Shortest and longest natural lengths (when the client sets no `max_tokens`).
const NATURAL_LEN: (u64, u64) = (8, 32);

/// Yields the tokens of one sequence, then its finish reason.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    spec: GenSpec,
    natural_len: u32,
    emitted: u32,
    finished: Option<Finish>,
}

/// One step of a generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The next token's text (with its leading space where it needs one).
    Token(String),
    /// The sequence is over.
    Done(Finish),
}

impl Generator {
    /// A generator for `spec`.
    pub fn new(spec: GenSpec) -> Self {
        let mut rng = Rng::new(spec.key);
        let span = NATURAL_LEN.1 - NATURAL_LEN.0 + 1;
        let natural_len = (NATURAL_LEN.0 + rng.next_u64() % span) as u32;
        Generator {
            rng,
            spec,
            natural_len,
            emitted: 0,
            finished: None,
        }
    }

    /// The next step; after `Done` it keeps returning `Done`.
    pub fn step(&mut self) -> Step {
        if let Some(f) = self.finished {
            return Step::Done(f);
        }
        let finish = if self.emitted >= self.spec.max_tokens {
            Some(Finish::Length)
        } else if self.spec.natural_stop && self.emitted >= self.natural_len {
            Some(Finish::Stop)
        } else {
            None
        };
        if let Some(f) = finish {
            self.finished = Some(f);
            return Step::Done(f);
        }
        let known = self
            .spec
            .answer
            .as_deref()
            .map(|a| a.split_whitespace().nth(self.emitted as usize));
        let word = match known {
            Some(Some(word)) => word,
            Some(None) => {
                self.finished = Some(Finish::Stop);
                return Step::Done(Finish::Stop);
            }
            None => WORDS[(self.rng.next_u64() % WORDS.len() as u64) as usize],
        };
        if self.spec.stop.iter().any(|s| s.trim() == word) {
            self.finished = Some(Finish::Stop);
            return Step::Done(Finish::Stop);
        }
        let text = if self.emitted == 0 && !self.spec.space_first {
            word.to_string()
        } else {
            format!(" {word}")
        };
        self.emitted += 1;
        Step::Token(text)
    }
}

/// Order-sensitive 64-bit hash (FNV-1a) that keys a sequence from its ingredients.
#[derive(Debug, Clone)]
pub struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl KeyHasher {
    /// Mix in bytes, delimited so that ("ab","c") and ("a","bc") differ.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &x in b.iter().chain((b.len() as u64).to_le_bytes().iter()) {
            self.0 = (self.0 ^ x as u64).wrapping_mul(0x100_0000_01b3);
        }
        self
    }

    /// Mix in a number.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// The key.
    pub fn finish(&self) -> u64 {
        // One SplitMix round so nearby inputs give unrelated keys.
        Rng::new(self.0).next_u64()
    }
}

/// All the tokens of `spec` at once, and why it ended.
#[cfg(test)]
fn generate_all(spec: GenSpec) -> (Vec<String>, Finish) {
    let mut g = Generator::new(spec);
    let mut out = Vec::new();
    loop {
        match g.step() {
            Step::Token(t) => out.push(t),
            Step::Done(f) => return (out, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: u64, max_tokens: u32, natural_stop: bool) -> GenSpec {
        GenSpec {
            key,
            max_tokens,
            natural_stop,
            stop: vec![],
            space_first: false,
            answer: None,
        }
    }

    #[test]
    fn deterministic_and_key_sensitive() {
        let a = generate_all(spec(1, 20, false));
        assert_eq!(a, generate_all(spec(1, 20, false)));
        assert_ne!(a.0, generate_all(spec(2, 20, false)).0);
    }

    #[test]
    fn explicit_budget_is_exact_and_natural_stop_is_bounded() {
        let (toks, f) = generate_all(spec(5, 100, false));
        assert_eq!((toks.len(), f), (100, Finish::Length));
        for k in 0..50 {
            let (toks, f) = generate_all(spec(k, 1000, true));
            assert!((8..=32).contains(&toks.len()));
            assert_eq!(f, Finish::Stop);
        }
        let (toks, f) = generate_all(spec(5, 3, true));
        assert_eq!((toks.len(), f), (3, Finish::Length));
    }

    #[test]
    fn spacing_and_stop_words() {
        let (toks, _) = generate_all(spec(9, 5, false));
        assert!(!toks[0].starts_with(' ') && toks[1..].iter().all(|t| t.starts_with(' ')));
        let stop_word = toks[2].trim().to_string();
        let (cut, f) = generate_all(GenSpec {
            stop: vec![stop_word.clone()],
            ..spec(9, 5, false)
        });
        assert_eq!(f, Finish::Stop);
        assert!(cut.len() <= 2 && cut.iter().all(|t| t.trim() != stop_word));
    }

    #[test]
    fn key_hasher_delimits() {
        let a = KeyHasher::default().bytes(b"ab").bytes(b"c").finish();
        let b = KeyHasher::default().bytes(b"a").bytes(b"bc").finish();
        assert_ne!(a, b);
    }
}
