//! Finding things by name: one workspace (or dataset) among many, by exact name or `<name> - <id>`, and the nearest
//! names when none matches.

use crate::error::{Error, Result};

/// Up to three names closest to `name` (case-insensitive edit distance, or containment), best first.
pub fn nearest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| {
            let cl = c.to_lowercase();
            let d = if cl == lower {
                0
            } else if cl.contains(&lower) || lower.contains(&cl) {
                1
            } else {
                strsim::levenshtein(&cl, &lower)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(2))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c.to_owned()).collect()
}

/// The one item named `name`, where `key` gives an item's name and id: `<name> - <id>` picks one of several of the
/// same name; no match is [`Error::NotFound`] with the nearest names; several are a usage error listing their ids.
///
/// Names match exactly first, then without regard to case, as the service matches a `powerbi://` workspace name
/// (other clients reach `Sales` as `sales`); an exact match wins over others that differ only in case.
pub(crate) fn find_one<'a, T>(
    items: &'a [T],
    name: &str,
    what: &'static str,
    key: impl Fn(&T) -> (&str, &str),
) -> Result<&'a T> {
    if let Some((n, id)) = name.rsplit_once(" - ")
        && let Some(one) = items.iter().find(|i| {
            let (iname, iid) = key(i);
            iname.to_lowercase() == n.to_lowercase() && iid.eq_ignore_ascii_case(id.trim())
        })
    {
        return Ok(one);
    }
    let mut matches: Vec<&T> = items.iter().filter(|i| key(i).0 == name).collect();
    if matches.is_empty() {
        let folded = name.to_lowercase();
        matches = items.iter().filter(|i| key(i).0.to_lowercase() == folded).collect();
    }
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::NotFound {
            what,
            name: name.to_owned(),
            nearest: nearest(name, items.iter().map(|i| key(i).0)),
        }),
        many => Err(Error::Usage(format!(
            "{} {what}s are named '{name}'; name one as '{name} - <id>': {}",
            many.len(),
            many.iter().map(|i| key(i).1).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_by_name_or_name_and_id_else_nearest_or_ambiguous() {
        let items = [("Sales", "A1"), ("Sales", "B2"), ("Finance", "C3")];
        fn key<'a>(i: &'a (&'static str, &'static str)) -> (&'a str, &'a str) {
            (i.0, i.1)
        }
        assert_eq!(find_one(&items, "Finance", "workspace", key).unwrap().1, "C3");
        // Without regard to case when nothing matches exactly; an exact match wins.
        assert_eq!(find_one(&items, "FINANCE", "workspace", key).unwrap().1, "C3");
        let cased = [("Sales", "A1"), ("sales", "B2")];
        assert_eq!(find_one(&cased, "sales", "workspace", key).unwrap().1, "B2");
        assert!(find_one(&cased, "SALES", "workspace", key).is_err(), "two differ only in case");
        assert_eq!(find_one(&items, "Sales - b2", "workspace", key).unwrap().1, "B2");
        let e = find_one(&items, "Sales", "workspace", key).unwrap_err().to_string();
        assert!(e.contains("A1, B2") && e.contains("'Sales - <id>'"), "{e}");
        match find_one(&items, "Finanse", "workspace", key) {
            Err(Error::NotFound { nearest, .. }) => assert_eq!(nearest, ["Finance"]),
            other => panic!("{other:?}"),
        }
    }
}
