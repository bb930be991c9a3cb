//! What changed between two definitions: tables, columns, measures (with a line diff of the DAX), partitions,
//! hierarchies, calculation items, relationships, roles, expressions, perspectives and cultures, each added,
//! removed or changed. The order things are stored in is not a change.

use serde::{Deserialize, Serialize};

use crate::definition::{DefRelationship, DefRole, DefTable, Definition};

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `model`, `table`, `column`, `measure`, `partition`, `hierarchy`, `calculation_item`, `relationship`,
    /// `role`, `expression`, `perspective` or `culture`.
    pub object: String,
    /// Its name, qualified by its table (`'Sales'[Amount]`) where it has one.
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// For `changed`: the property that differs, its value before and after, and for an expression the changed
    /// lines (`-` before, `+` after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The value before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The value after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The changed lines of an expression.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

/// Every difference from `a` to `b`, in a stable order.
pub fn compare(a: &Definition, b: &Definition) -> Vec<Change> {
    let (a, b) = (a.canonical(), b.canonical());
    let mut c = Changes(Vec::new());
    c.value("model", "", "compatibility_level", &a.compatibility_level, &b.compatibility_level);
    c.value("model", "", "culture", &a.culture, &b.culture);
    c.keyed("table", &a.tables, &b.tables, |t| t.name.clone(), tables);
    model_objects(&mut c, &a, &b);
    c.0
}

/// What changed inside a table present in both.
fn tables(c: &mut Changes, name: &str, x: &DefTable, y: &DefTable) {
    let q = |n: &str| format!("'{name}'[{n}]");
    let under = |n: &str| format!("'{name}'/{n}");
    c.keyed(
        "column",
        &x.columns,
        &y.columns,
        |k| q(&k.name),
        |c, n, x, y| {
            c.value("column", n, "data_type", &x.data_type, &y.data_type);
            c.value("column", n, "kind", &x.kind, &y.kind);
            c.text("column", n, "expression", x.expression.as_deref(), y.expression.as_deref());
        },
    );
    c.keyed(
        "measure",
        &x.measures,
        &y.measures,
        |k| q(&k.name),
        |c, n, x, y| {
            c.text("measure", n, "expression", Some(&x.expression), Some(&y.expression));
            c.value("measure", n, "display_folder", &x.display_folder, &y.display_folder);
            c.value("measure", n, "format_string", &x.format_string, &y.format_string);
        },
    );
    c.keyed(
        "partition",
        &x.partitions,
        &y.partitions,
        |k| under(&k.name),
        |c, n, x, y| {
            c.value("partition", n, "kind", &x.kind, &y.kind);
            c.text("partition", n, "expression", Some(&x.expression), Some(&y.expression));
        },
    );
    c.keyed(
        "hierarchy",
        &x.hierarchies,
        &y.hierarchies,
        |k| under(&k.name),
        |c, n, x, y| {
            c.value("hierarchy", n, "levels", &x.levels.join(", "), &y.levels.join(", "));
        },
    );
    c.keyed(
        "calculation_item",
        &x.calculation_items,
        &y.calculation_items,
        |k| q(&k.name),
        |c, n, x, y| {
            c.text("calculation_item", n, "expression", Some(&x.expression), Some(&y.expression));
        },
    );
    c.value("table", name, "internal", &x.internal, &y.internal);
}

/// Relationships, roles, expressions, perspectives and cultures.
fn model_objects(c: &mut Changes, a: &Definition, b: &Definition) {
    let rel = |r: &DefRelationship| {
        format!("'{}'[{}] -> '{}'[{}]", r.from_table, r.from_column, r.to_table, r.to_column)
    };
    c.keyed("relationship", &a.relationships, &b.relationships, rel, |c, n, x, y| {
        c.value("relationship", n, "active", &x.active, &y.active);
        c.value("relationship", n, "cardinality", &x.cardinality, &y.cardinality);
        c.value("relationship", n, "cross_filter", &x.cross_filter, &y.cross_filter);
    });
    let filters = |r: &DefRole| {
        r.table_filters
            .iter()
            .map(|f| format!("'{}': {}", f.table, f.expression))
            .collect::<Vec<_>>()
            .join("\n")
    };
    c.keyed(
        "role",
        &a.roles,
        &b.roles,
        |r| r.name.clone(),
        |c, n, x, y| {
            c.value("role", n, "model_permission", &x.model_permission, &y.model_permission);
            c.value("role", n, "member_count", &x.member_count, &y.member_count);
            c.text("role", n, "table_filters", Some(&filters(x)), Some(&filters(y)));
        },
    );
    c.keyed(
        "expression",
        &a.expressions,
        &b.expressions,
        |e| e.name.clone(),
        |c, n, x, y| {
            c.value("expression", n, "kind", &x.kind, &y.kind);
            c.text("expression", n, "expression", Some(&x.expression), Some(&y.expression));
        },
    );
    c.keyed("perspective", &a.perspectives, &b.perspectives, Clone::clone, |_, _, _, _| {});
    c.keyed("culture", &a.cultures, &b.cultures, Clone::clone, |_, _, _, _| {});
}

struct Changes(Vec<Change>);

impl Changes {
    fn push(&mut self, object: &str, name: &str, change: &str) -> &mut Change {
        self.0.push(Change {
            object: object.into(),
            name: name.into(),
            change: change.into(),
            property: None,
            before: None,
            after: None,
            lines: Vec::new(),
        });
        self.0.last_mut().expect("just pushed")
    }

    /// Items of two lists matched by `key`: added, removed, and `inner` on each pair.
    fn keyed<T>(
        &mut self,
        object: &str,
        a: &[T],
        b: &[T],
        key: impl Fn(&T) -> String,
        mut inner: impl FnMut(&mut Changes, &str, &T, &T),
    ) {
        for x in a {
            let k = key(x);
            match b.iter().find(|y| key(y) == k) {
                Some(y) => inner(self, &k, x, y),
                None => {
                    self.push(object, &k, "removed");
                }
            }
        }
        for y in b {
            let k = key(y);
            if !a.iter().any(|x| key(x) == k) {
                self.push(object, &k, "added");
            }
        }
    }

    fn value<V: PartialEq + std::fmt::Debug>(
        &mut self,
        object: &str,
        name: &str,
        property: &str,
        a: &V,
        b: &V,
    ) {
        if a != b {
            let c = self.push(object, name, "changed");
            c.property = Some(property.into());
            c.before = Some(shown(a));
            c.after = Some(shown(b));
        }
    }

    fn text(&mut self, object: &str, name: &str, property: &str, a: Option<&str>, b: Option<&str>) {
        if a == b {
            return;
        }
        let (a, b) = (a.unwrap_or(""), b.unwrap_or(""));
        let diff = similar::TextDiff::from_lines(a, b);
        let lines = diff
            .iter_all_changes()
            .filter_map(|ch| {
                let sign = match ch.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => return None,
                };
                Some(format!("{sign}{}", ch.value().trim_end_matches(['\n', '\r'])))
            })
            .collect();
        let c = self.push(object, name, "changed");
        c.property = Some(property.into());
        c.lines = lines;
    }
}

/// A value as text: strings without their quotes, `Option`s without `Some`.
fn shown<V: std::fmt::Debug>(v: &V) -> String {
    let s = format!("{v:?}");
    let s = s.strip_prefix("Some(").and_then(|s| s.strip_suffix(')')).unwrap_or(&s).to_owned();
    s.trim_matches('"').to_owned()
}
