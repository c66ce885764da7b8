//! Kafka's integer settings under Kafka's own names (`[broker]`, and the Kafka configs of
//! `[[producers]]` and `[[consumers]]`): how each is checked and explained, and what to
//! say when a duration string is written where Kafka counts integer milliseconds.

use std::ops::Range;

use toml::Spanned;

use super::duration::parse_duration;
use super::error::Problem;
use super::raw::KafkaInt;

/// The longest time setting: far beyond any run, and small enough that simulated time
/// (`u64` nanoseconds) never overflows adding it.
pub const MAX_MS: i64 = 100 * 365 * 24 * 3600 * 1000;
const MAX_MS_LABEL: &str = "at most 3153600000000 (100 years)";
/// Kafka's `int` settings stop at `Integer.MAX_VALUE`.
pub const MAX_INT: i64 = i32::MAX as i64;
const MAX_INT_LABEL: &str = "at most 2147483647";

/// One integer Kafka setting: how to check it and how to explain it.
pub struct Setting {
    pub key: &'static str,
    /// Completes "`key` is ...".
    pub meaning: &'static str,
    /// What the file may write, Kafka's default included.
    pub accepts: &'static str,
    /// Milliseconds: a duration string written instead gets its value in milliseconds.
    pub ms: bool,
    /// The value that means "never" or "no limit", read as `None`.
    pub never: Option<i64>,
    /// The smallest value accepted (0 or more).
    pub min: i64,
    pub max: i64,
    pub max_label: &'static str,
}

impl Setting {
    /// Milliseconds, greater than 0.
    pub const fn ms(key: &'static str, meaning: &'static str, accepts: &'static str) -> Setting {
        Setting {
            key,
            meaning,
            accepts,
            ms: true,
            never: None,
            min: 1,
            max: MAX_MS,
            max_label: MAX_MS_LABEL,
        }
    }

    /// A count (records, bytes, replicas), from 1 to Kafka's `int` limit.
    pub const fn count(key: &'static str, meaning: &'static str, accepts: &'static str) -> Setting {
        Setting {
            key,
            meaning,
            accepts,
            ms: false,
            never: None,
            min: 1,
            max: MAX_INT,
            max_label: MAX_INT_LABEL,
        }
    }

    pub const fn never(self, value: i64) -> Setting {
        Setting { never: Some(value), ..self }
    }

    pub const fn at_least(self, min: i64) -> Setting {
        assert!(min >= 0);
        Setting { min, ..self }
    }

    pub const fn at_most(self, max: i64, max_label: &'static str) -> Setting {
        Setting { max, max_label, ..self }
    }

    pub fn help(&self) -> String {
        format!("`{}` is {}: {}", self.key, self.meaning, self.accepts)
    }
}

/// The value the file gives, or `default` when it leaves the key out.
pub fn get(
    raw: &Option<Spanned<KafkaInt>>,
    setting: &Setting,
    default: u64,
) -> Result<u64, Problem> {
    Ok(set(raw, setting)?.unwrap_or(default))
}

/// As [`get`], for a setting whose maximum fits `u32`.
pub fn get_u32(
    raw: &Option<Spanned<KafkaInt>>,
    setting: &Setting,
    default: u32,
) -> Result<u32, Problem> {
    assert!(setting.max <= i64::from(u32::MAX), "{}", setting.key);
    let value = get(raw, setting, u64::from(default))?;
    // Checked against `setting.max` above: the conversion cannot saturate.
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

/// A setting without a "never" value: `None` when the file leaves it out.
pub fn set(raw: &Option<Spanned<KafkaInt>>, setting: &Setting) -> Result<Option<u64>, Problem> {
    // Without a "never" value, a present setting is always a number.
    Ok(set_or_never(raw, setting)?.flatten())
}

/// `None` when the file leaves it out, `Some(None)` for the "never" value.
pub fn set_or_never(
    raw: &Option<Spanned<KafkaInt>>,
    setting: &Setting,
) -> Result<Option<Option<u64>>, Problem> {
    let Some(value) = raw else {
        return Ok(None);
    };
    let v = match value.get_ref() {
        KafkaInt::Int(v) => *v,
        KafkaInt::Text(text) => return Err(text_for_integer(value.span(), text, setting)),
    };
    if Some(v) == setting.never {
        return Ok(Some(None));
    }
    let key = setting.key;
    let problem = if v < 0 {
        Problem::at(value.span(), format!("`{key}` cannot be negative ({v})")).label("negative")
    } else if v < setting.min && setting.min == 1 {
        Problem::at(value.span(), format!("`{key}` must be greater than 0")).label("zero")
    } else if v < setting.min {
        Problem::at(value.span(), format!("`{key}` is too small ({v})"))
            .label(format!("at least {}", setting.min))
    } else if v > setting.max {
        Problem::at(value.span(), format!("`{key}` is too large ({v})")).label(setting.max_label)
    } else {
        return Ok(Some(Some(v.unsigned_abs())));
    };
    Err(problem.help(setting.help()))
}

/// A string where Kafka takes an integer: say which integer to write.
fn text_for_integer(span: Range<usize>, text: &str, setting: &Setting) -> Problem {
    let key = setting.key;
    let whole_ms = parse_duration(text)
        .ok()
        .filter(|d| setting.ms && d.as_nanos() % 1_000_000 == 0 && d.as_millis() > 0);
    if let Some(d) = whole_ms {
        return Problem::at(
            span,
            format!("wrong type: expected an integer of milliseconds, found string {text:?}"),
        )
        .label("a duration, not milliseconds")
        .help(format!(
            "Kafka's settings keep Kafka's units: write \"{key}\" = {} ({text} in milliseconds)",
            d.as_millis()
        ));
    }
    let problem =
        Problem::at(span, format!("wrong type: expected an integer, found string {text:?}"))
            .label("expected an integer");
    match text.trim().parse::<i64>() {
        Ok(n) => problem.help(format!("write the number without quotes: \"{key}\" = {n}")),
        Err(_) => problem.help(setting.help()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ms_fits_simulated_time() {
        assert_eq!(MAX_MS, 3_153_600_000_000);
        assert!(MAX_MS.unsigned_abs().checked_mul(1_000_000 * 5).is_some());
    }
}
