//! The request bodies of a perf test: synthetic prompts (seeded), prompts from a file, or
//! chat with generated images, made before the first request is sent (as vLLM's benchmark
//! samples its dataset first), so sending stays cheap and the same seed sends the same bodies.

use crate::mock::WORDS;
use crate::seed;
use crate::suite::{Api, FilePromptText, PerfSpec, RandomLens, Workload};
use base64::Engine as _;
use rand::Rng as _;
use rand::RngCore;
use serde_json::{Value, json};

/// `count` request bodies for `spec` (`model` in each), drawn from the seed's `prompts` stream.
pub fn bodies(spec: &PerfSpec, model: &str, seed: u64, count: usize) -> Vec<Value> {
    let mut rng = seed::stream(seed, "prompts");
    (0..count)
        .map(|i| {
            let (mut body, max_tokens) = match &spec.workload {
                Workload::Random(lens) => {
                    let (prompt, max_tokens) = random_prompt(&mut rng, lens);
                    (text_body(spec.request.api, prompt), max_tokens)
                }
                Workload::RandomImages { lens, images, size } => {
                    let (prompt, max_tokens) = random_prompt(&mut rng, lens);
                    let mut content = vec![json!({"type": "text", "text": prompt})];
                    for _ in 0..*images {
                        let url = format!(
                            "data:image/png;base64,{}",
                            base64::engine::general_purpose::STANDARD
                                .encode(png(&mut rng, *size, *size))
                        );
                        content.push(json!({"type": "image_url", "image_url": {"url": url}}));
                    }
                    let messages = json!([{"role": "user", "content": content}]);
                    (json!({ "messages": messages }), max_tokens)
                }
                Workload::Jsonl { prompts, .. } => {
                    let p = &prompts[i % prompts.len()];
                    let body = match &p.prompt {
                        FilePromptText::Text(t) => text_body(spec.request.api, t.clone()),
                        FilePromptText::Messages(m) => match spec.request.api {
                            Api::Chat => json!({ "messages": m }),
                            // Completions take text: the messages' contents, in order.
                            Api::Completions => json!({ "prompt": flatten(m) }),
                        },
                    };
                    (body, p.max_tokens.unwrap_or(spec.request.max_tokens))
                }
            };
            body["model"] = json!(model);
            body["max_tokens"] = json!(max_tokens);
            body["stream"] = json!(spec.request.stream);
            if spec.request.stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            if spec.ignore_eos {
                body["ignore_eos"] = json!(true);
            }
            body
        })
        .collect()
}

fn text_body(api: Api, prompt: String) -> Value {
    match api {
        Api::Chat => json!({"messages": [{"role": "user", "content": prompt}]}),
        Api::Completions => json!({ "prompt": prompt }),
    }
}

fn flatten(messages: &Value) -> String {
    let parts = messages.as_array().into_iter().flatten();
    let texts: Vec<&str> = parts.filter_map(|m| m["content"].as_str()).collect();
    texts.join("\n")
}

/// A prompt of about `input_len` words and the answer length to ask for, each drawn within
/// `range_ratio` of its mean.
fn random_prompt(rng: &mut seed::ChaCha8Rng, lens: &RandomLens) -> (String, u32) {
    let mut draw = |mean: u32| -> u32 {
        let r = lens.range_ratio;
        let lo = (f64::from(mean) * (1.0 - r)).floor().max(1.0) as u32;
        let hi = (f64::from(mean) * (1.0 + r)).ceil().max(f64::from(lo)) as u32;
        rng.random_range(lo..=hi)
    };
    let (input, output) = (draw(lens.input_len), draw(lens.output_len));
    let words: Vec<&str> = (0..input)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect();
    (words.join(" "), output)
}

/// A `w`×`h` PNG of random grey pixels: stored (uncompressed) deflate blocks, so any
/// decoder reads it and no compression library is needed.
pub fn png(rng: &mut impl RngCore, w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((w + 1) * h) as usize);
    for _ in 0..h {
        raw.push(0); // filter: none
        let start = raw.len();
        raw.resize(start + w as usize, 0);
        rng.fill_bytes(&mut raw[start..]);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(0xffff).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in data {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Goodput, RequestSpec};
    use crate::units::Dur;

    fn spec(workload: Workload) -> PerfSpec {
        PerfSpec {
            points: Vec::new(),
            num_prompts: 10,
            num_warmups: 0,
            burstiness: 1.0,
            workload,
            request: RequestSpec {
                api: Api::Chat,
                stream: true,
                max_tokens: 16,
                model: None,
                prompt: String::new(),
            },
            ignore_eos: true,
            timeout: Dur::from_secs(1),
            cooldown: Dur::from_secs(0),
            goodput: Goodput::default(),
            lag_p99_max: Dur::from_secs(1),
            max_failed: 0.0,
            baseline: None,
        }
    }

    #[test]
    fn random_prompts_are_seeded_and_within_their_range() {
        let lens = RandomLens {
            input_len: 20,
            output_len: 10,
            range_ratio: 0.5,
        };
        let s = spec(Workload::Random(lens));
        let a = bodies(&s, "m", 3, 50);
        assert_eq!(a, bodies(&s, "m", 3, 50), "same seed, same bodies");
        assert_ne!(a, bodies(&s, "m", 4, 50));
        for b in &a {
            let words = b["messages"][0]["content"]
                .as_str()
                .map(|t| t.split(' ').count());
            assert!(words.is_some_and(|n| (10..=30).contains(&n)), "{b}");
            let max = b["max_tokens"].as_u64().unwrap_or(0);
            assert!((5..=15).contains(&max), "{b}");
            assert_eq!(b["ignore_eos"], json!(true));
            assert_eq!(b["stream_options"]["include_usage"], json!(true));
        }
    }

    #[test]
    fn generated_images_are_pngs_the_mock_accepts() {
        let lens = RandomLens {
            input_len: 4,
            output_len: 4,
            range_ratio: 0.0,
        };
        let s = spec(Workload::RandomImages {
            lens,
            images: 2,
            size: 300,
        });
        let b = &bodies(&s, "m", 1, 1)[0];
        let content = b["messages"][0]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(content.len(), 3);
        let url = content[1]["image_url"]["url"].as_str().unwrap_or_default();
        assert_eq!(crate::mock::media::image_url(url), Ok((300, 300)));
    }

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }
}
