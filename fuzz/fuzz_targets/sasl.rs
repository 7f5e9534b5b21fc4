//! Fuzz target `sasl`: see `portcullis_fuzz::checks::sasl` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::sasl::check(data);
});
