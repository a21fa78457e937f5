#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("repo_row_increment_plain").expect("listed target").run)(data);
});
