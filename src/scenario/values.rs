//! Checks of single values: integers and probabilities in range, durations as written,
//! non-empty text. Each refusal points at the value and says what range is accepted.

use std::ops::RangeInclusive;

use toml::Spanned;

use super::duration::{self, DurationError};
use super::error::Problem;
use super::raw::{Lenient, Names};
use super::spelling::did_you_mean;
use crate::sim::time::Duration;

/// An integer within `range`, as the type the model holds (`u32`, `u64`, `i64`); `help`
/// says what the value means and what to write.
pub fn int_in<T: TryFrom<i64>>(
    value: &Spanned<i64>,
    key: &str,
    range: RangeInclusive<i64>,
    help: &str,
) -> Result<T, Problem> {
    let v = *value.get_ref();
    // Callers pass ranges that fit `T`; should one not, the value is refused, not wrapped.
    if let Some(fits) = range.contains(&v).then(|| T::try_from(v).ok()).flatten() {
        return Ok(fits);
    }
    let problem = if v < 0 && *range.start() >= 0 {
        Problem::at(value.span(), format!("`{key}` cannot be negative ({v})")).label("negative")
    } else {
        Problem::at(value.span(), format!("`{key}` is out of range ({v})")).label(format!(
            "not in {}..={}",
            range.start(),
            range.end()
        ))
    };
    Err(problem.help(help))
}

/// A probability, 0..=1; `meaning` completes "`key` is the probability that ...".
pub fn probability(value: &Spanned<f64>, key: &str, meaning: &str) -> Result<f64, Problem> {
    let v = *value.get_ref();
    if (0.0..=1.0).contains(&v) {
        return Ok(v);
    }
    Err(Problem::at(value.span(), format!("`{key}` must be between 0 and 1 ({v})"))
        .label("not a probability")
        .help(format!("`{key}` is the probability that {meaning}: 0 never, 1 always")))
}

/// Text that must say something (names, descriptions).
pub fn non_empty(value: &Spanned<String>, key: &str, help: &str) -> Result<String, Problem> {
    if value.get_ref().trim().is_empty() {
        return Err(Problem::at(value.span(), format!("`{key}` is empty"))
            .label("empty")
            .help(help));
    }
    Ok(value.get_ref().clone())
}

/// A list that must not be empty, such as the nodes of a crash.
pub fn names_non_empty<'a>(
    list: &'a Names,
    key: &str,
    help: &str,
) -> Result<&'a [Spanned<String>], Problem> {
    if list.get_ref().is_empty() {
        return Err(Problem::at(list.span(), format!("`{key}` is empty"))
            .label("empty")
            .help(help));
    }
    Ok(list.get_ref())
}

/// A duration such as `"30s"`.
pub fn duration(value: &Spanned<Lenient>) -> Result<Duration, Problem> {
    with_text(value, duration::parse_duration)
}

/// A duration with an optional leading `-`, in nanoseconds.
pub fn signed_duration(value: &Spanned<Lenient>) -> Result<i64, Problem> {
    with_text(value, duration::parse_signed)
}

/// `"A..B"` or a single duration.
pub fn duration_range(value: &Spanned<Lenient>) -> Result<(Duration, Duration), Problem> {
    with_text(value, duration::parse_range)
}

/// The value of `values` the file names; otherwise every value with its meaning. Each
/// entry is (as the file writes it, the value, what it means).
pub fn one_of<T: Copy>(
    raw: &Spanned<String>,
    key: &str,
    values: &[(&str, T, &str)],
) -> Result<T, Problem> {
    let text = raw.get_ref();
    if let Some(&(_, value, _)) = values.iter().find(|(name, _, _)| name == text) {
        return Ok(value);
    }
    let names: Vec<&str> = values.iter().map(|(name, _, _)| *name).collect();
    let list: String =
        values.iter().map(|(name, _, meaning)| format!("\n  \"{name}\": {meaning}")).collect();
    Err(Problem::at(raw.span(), format!("unknown {key} value `{text}`"))
        .label(format!("not a `{key}` value"))
        .help(format!("{}{key} is one of:{list}", did_you_mean(text, &names))))
}

/// The help of [`one_of`] lists one value a line; each must fit the report's width (100,
/// less the help's indent and a margin) so that none wraps. For the modules' tests.
#[cfg(test)]
pub fn fits_one_line(name: &str, meaning: &str) -> bool {
    format!("  \"{name}\": {meaning}").chars().count() <= 88
}

/// The value as the file wrote it, for messages that quote it.
pub fn written(value: &Lenient) -> &str {
    match value {
        Lenient::Text(text) | Lenient::Number(text) => text,
    }
}

fn with_text<T>(
    value: &Spanned<Lenient>,
    parse: impl Fn(&str) -> Result<T, DurationError>,
) -> Result<T, Problem> {
    let result = match value.get_ref() {
        Lenient::Text(text) => parse(text),
        Lenient::Number(number) => Err(DurationError::NoUnit { number: number.clone() }),
    };
    result.map_err(|e| Problem::at(value.span(), e.message()).label(e.label()).help(e.help()))
}
