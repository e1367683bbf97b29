//! Arbitrary bytes through `gonogo check`: parse_stream + ManifestSet::add + evaluation of the
//! baseline and of any checklists in the input + every output format. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gonogo::cli::check::fuzz_one(text);
    }
});
