//! Arbitrary bytes as the `tls.crt` of a kubernetes.io/tls Secret: PEM framing, DER, X.509
//! extensions (SANs, validity) are all attacker-shaped input. Must never panic; the verdict is
//! either parsed facts or a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gonogo::probe::certificate::certificate_facts(data);
});
