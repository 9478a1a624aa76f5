//! The whole packet path on arbitrary frames; see `dataplane::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dataplane::fuzzing::run_packet_path(data);
});
