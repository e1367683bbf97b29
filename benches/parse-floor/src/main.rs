//! The floor of `gonogo check`'s reading (issue 18): a bare parse of a manifest stream, nothing
//! typed or kept, on one thread, with the Rust YAML parsers at hand. `scripts/bench-check.sh`
//! reports gonogo's CPU time as a ratio to the fastest of them.
//!
//! - `libyaml-events`: libyaml's event stream (unsafe-libyaml, the scanner under serde_yaml_ng
//!   and so under gonogo), every event pulled and dropped;
//! - `granit-events`: granit-parser's event stream (the pure-Rust tokenizer under serde-saphyr),
//!   every event pulled and dropped;
//! - `libyaml-ignored`: serde_yaml_ng (libyaml's scanner, as gonogo reads) deserializing every
//!   document into `IgnoredAny`;
//! - `saphyr-ignored`: serde-saphyr deserializing every document into `IgnoredAny`.
//!
//! Usage: `cargo run --release --manifest-path benches/parse-floor/Cargo.toml -- FILE [RUNS]`. Prints, per parser, the best CPU
//! time of RUNS (default 3) runs in seconds, and a last line `floor SECONDS PARSER`.

use std::time::Instant;

use serde::Deserialize;
use serde::de::IgnoredAny;

fn libyaml_events(text: &str) -> usize {
    use std::mem::MaybeUninit;
    let mut events = 0;
    // SAFETY: the parser reads `text`, which outlives it; every event is deleted after use and
    // the parser at the end, as libyaml's API asks.
    unsafe {
        let mut parser = MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit();
        assert!(unsafe_libyaml::yaml_parser_initialize(parser.as_mut_ptr()).ok);
        let mut parser = parser.assume_init();
        unsafe_libyaml::yaml_parser_set_input_string(&mut parser, text.as_ptr(), text.len() as u64);
        loop {
            let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
            assert!(
                unsafe_libyaml::yaml_parser_parse(&mut parser, event.as_mut_ptr()).ok,
                "the corpus parses"
            );
            let mut event = event.assume_init();
            let end = event.type_ == unsafe_libyaml::YAML_STREAM_END_EVENT;
            unsafe_libyaml::yaml_event_delete(&mut event);
            events += 1;
            if end {
                break;
            }
        }
        unsafe_libyaml::yaml_parser_delete(&mut parser);
    }
    events
}

fn granit_events(text: &str) -> usize {
    let mut events = 0;
    for event in granit_parser::Parser::new_from_str(text) {
        event.expect("the corpus parses");
        events += 1;
    }
    events
}

fn libyaml_ignored(text: &str) -> usize {
    let mut documents = 0;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        IgnoredAny::deserialize(document).expect("the corpus parses");
        documents += 1;
    }
    documents
}

fn saphyr_ignored(text: &str) -> usize {
    // No budget: the corpus is far beyond the default document count.
    let options = serde_saphyr::options! { budget: None };
    let documents: Vec<IgnoredAny> =
        serde_saphyr::from_multiple_with_options(text, options).expect("the corpus parses");
    documents.len()
}

/// A parse of a whole stream, returning what it counted.
type Parse = fn(&str) -> usize;

/// CPU time of this process (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field overall.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks of 1/100 s (USER_HZ on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: parse-floor FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(path).expect("the corpus is readable");
    let parsers: [(&str, Parse); 4] = [
        ("libyaml-events", libyaml_events),
        ("granit-events", granit_events),
        ("libyaml-ignored", libyaml_ignored),
        ("saphyr-ignored", saphyr_ignored),
    ];
    let mut floor = (f64::INFINITY, "");
    for (name, parse) in parsers {
        let mut best = f64::INFINITY;
        let mut best_wall = f64::INFINITY;
        for _ in 0..runs {
            let (cpu, wall) = (cpu_seconds(), Instant::now());
            std::hint::black_box(parse(std::hint::black_box(&text)));
            best = best.min(cpu_seconds() - cpu);
            best_wall = best_wall.min(wall.elapsed().as_secs_f64());
        }
        println!("{name:<16} cpu {best:.2} s  wall {best_wall:.2} s");
        if best < floor.0 {
            floor = (best, name);
        }
    }
    println!("floor {:.2} {}", floor.0, floor.1);
}
