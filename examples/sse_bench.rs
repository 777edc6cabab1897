//! SSE parsing rate of the load generator, on one core: events per second through
//! `load::sse::Parser` alone, and through the parser plus the JSON decode of each event's
//! data that the client does per chunk (`serde_json::Value`).
//!
//! ```sh
//! cargo run --release --example sse_bench            # 2,000,000 events per case
//! cargo run --release --example sse_bench -- 500000
//! ```
//!
//! The stream is vLLM-shaped chat chunks (about 200 bytes each), fed as the network hands
//! them over: one event per read (a token stream at low rate) and 16 KiB reads (a backlog).

use shakedown::load::sse::Parser;
use std::time::Instant;

/// One chat completion chunk as vLLM (and the mock) frame it.
fn chunk(i: usize) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-0123456789abcdef\",\"object\":\"chat.completion.chunk\",\
         \"created\":1764000000,\"model\":\"mock-model\",\"choices\":[{{\"index\":0,\
         \"delta\":{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
    )
}

/// Events per second over `reads`, and a checksum that keeps the work from being optimised away.
fn rate(reads: &[Vec<u8>], events: usize, decode: bool) -> (f64, usize) {
    let t = Instant::now();
    let mut parser = Parser::new();
    let mut seen = 0usize;
    for r in reads {
        for e in parser.feed(r) {
            seen += if decode {
                let v: serde_json::Value = serde_json::from_str(e.data.trim()).unwrap_or_default();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map_or(0, str::len)
            } else {
                e.data.len()
            };
        }
    }
    let secs = t.elapsed().as_secs_f64();
    (events as f64 / secs, seen)
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let per_event: Vec<Vec<u8>> = (0..events).map(|i| chunk(i).into_bytes()).collect();
    let bytes: usize = per_event.iter().map(Vec::len).sum();
    let whole: Vec<u8> = per_event.concat();
    let backlog: Vec<Vec<u8>> = whole.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    println!(
        "{events} events, {:.0} bytes each on average, one thread",
        bytes as f64 / events as f64
    );
    println!("| reads | parser only (events/s) | parser + JSON decode (events/s) |");
    println!("|---|---|---|");
    for (name, reads) in [
        ("one event per read", &per_event),
        ("16 KiB reads", &backlog),
    ] {
        // A warm-up pass, then the measured ones.
        rate(reads, events, true);
        let (parse, a) = rate(reads, events, false);
        let (decode, b) = rate(reads, events, true);
        println!(
            "| {name} | {:.2} M | {:.2} M |  (checksums {a} {b})",
            parse / 1e6,
            decode / 1e6
        );
    }
}
