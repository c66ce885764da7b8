//! Byte spans in the scenario text: where they are for a person (line and column) and,
//! for errors about a key rather than its value, where that key is written.

use std::ops::Range;

/// 1-based line and column (in characters, as editors and rustc count) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before[..line_start].iter().filter(|&&b| b == b'\n').count() + 1;
    let in_line = &before[line_start..];
    let column = std::str::from_utf8(in_line).map_or(in_line.len(), |s| s.chars().count()) + 1;
    (line, column)
}

/// The span of the key written in front of the value at `value`: `key = value` or
/// `"key" = value`. Falls back to the value itself when the text is not of that shape.
pub fn key_before(text: &str, value: &Range<usize>) -> Range<usize> {
    find_key(text, value.start).unwrap_or_else(|| value.clone())
}

fn find_key(text: &str, value_start: usize) -> Option<Range<usize>> {
    let before = text.get(..value_start)?.trim_end_matches([' ', '\t']);
    let before = before.strip_suffix('=')?.trim_end_matches([' ', '\t']);
    let end = before.len();
    let start = if let Some(quoted) = before.strip_suffix('"') {
        quoted.rfind('"')?
    } else {
        let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        before.rfind(|c: char| !bare(c)).map_or(0, |i| i + 1)
    };
    (start < end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(line_col(text, 12), (2, 6));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn keys_in_front_of_values() {
        let text = "offset = \"-2s\"\n{ a = 1, \"b c\"=2 }\nx\n";
        assert_eq!(key_before(text, &(9..14)), 0..6);
        let one = text.find('1').unwrap();
        assert_eq!(&text[key_before(text, &(one..one + 1))], "a");
        let two = text.find("2 }").unwrap();
        assert_eq!(&text[key_before(text, &(two..two + 1))], "\"b c\"");
        let x = text.find('x').unwrap();
        assert_eq!(key_before(text, &(x..x + 1)), x..x + 1);
    }
}
