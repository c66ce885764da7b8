//! "Did you mean": the accepted name a misspelt one most likely meant.

/// The closest of `accepted` to `name`, if at most about a third of `name` differs.
pub fn closest<'a, S: AsRef<str>>(name: &str, accepted: &'a [S]) -> Option<&'a str> {
    let limit = name.chars().count().div_ceil(3).max(1);
    accepted
        .iter()
        .map(|a| (edit_distance(name, a.as_ref()), a.as_ref()))
        .filter(|&(d, _)| d <= limit && d > 0)
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

/// The sentence to prepend to a help line, or nothing.
pub fn did_you_mean<S: AsRef<str>>(name: &str, accepted: &[S]) -> String {
    closest(name, accepted).map_or_else(String::new, |c| format!("did you mean `{c}`? "))
}

/// Edit distance in characters, counting a swap of two neighbours as one edit (the
/// optimal string alignment distance): `fro` is one edit from `for`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["duration", "heal", "seed"];
        assert_eq!(closest("duraton", &keys), Some("duration"));
        assert_eq!(closest("sed", &keys), Some("seed"));
        assert_eq!(closest("bogus", &keys), None);
        assert_eq!(did_you_mean("hael", &keys), "did you mean `heal`? ");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("fro", "for"), 1);
        assert_eq!(closest("fro", &["at", "for", "to"]), Some("for"));
    }
}
