//! Timestamps: milliseconds since the Unix epoch, UTC, as WhatsApp stores them.

/// Milliseconds per day.
pub const DAY_MS: i64 = 86_400_000;

/// Timestamp of the first generated message: 2024-01-01T08:00:00Z.
pub const HISTORY_START_MS: i64 = 1_704_096_000_000;

/// Returns the UTC (year, month, day) of a timestamp in milliseconds.
pub fn utc_date(timestamp_ms: i64) -> (i64, u32, u32) {
    // Civil-from-days conversion from Howard Hinnant's date algorithms.
    let days = timestamp_ms.div_euclid(DAY_MS) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert() {
        assert_eq!(utc_date(0), (1970, 1, 1));
        assert_eq!(utc_date(HISTORY_START_MS), (2024, 1, 1));
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(utc_date(1_709_251_199_999), (2024, 2, 29));
        assert_eq!(utc_date(1_709_251_200_000), (2024, 3, 1));
    }
}
