#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("crypt15_header").expect("listed target").run)(data);
});
