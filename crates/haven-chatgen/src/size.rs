//! Parsing of data set sizes such as `10MB`, `200MB` or `2GB`.

use crate::error::{ChatgenError, Result};

/// Smallest accepted data set size: the schema and the first photos need about this much.
pub const MIN_SIZE: u64 = 1_000_000;

/// Parses a byte count with an optional unit. `KB`, `MB` and `GB` are powers of 1000,
/// `KiB`, `MiB` and `GiB` powers of 1024. A bare number or `B` means bytes.
pub fn parse_size(value: &str) -> Result<u64> {
    let invalid = |reason: &str| ChatgenError::InvalidSize {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| invalid("the number part is missing or malformed"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(invalid(
                "unknown unit (known: B, KB, MB, GB, KiB, MiB, GiB)",
            ))
        }
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes > 1e13 {
        return Err(invalid("larger than the supported maximum of 10 TB"));
    }
    let bytes = bytes.round() as u64;
    if bytes < MIN_SIZE {
        return Err(invalid("smaller than the minimum of 1MB"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("200mb").unwrap(), 200_000_000);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5 MiB").unwrap(), 1_572_864);
        assert_eq!(parse_size("3000000").unwrap(), 3_000_000);
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for bad in ["", "MB", "10XB", "0.5MB", "-1MB"] {
            let error = parse_size(bad).unwrap_err();
            assert!(error.to_string().contains("invalid size"), "{bad}: {error}");
        }
    }
}
