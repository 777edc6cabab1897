//! Typed reading of tree nodes: every failure is a located error saying what was found and what was expected.

use super::limits::max_duration_text;
use super::load::SuiteError;
use super::tree::{Node, Val};
use crate::units::{BELOW_EXPECTED, Below, Dur, DurError};

pub(crate) type Res<T> = Result<T, SuiteError>;

/// What the duration errors ask for.
pub(crate) const DUR_EXPECTED: &str = r#"a duration such as "250ms", "10s", "1.5s", "5m" or "1h""#;

/// A string as messages quote it: cut to 60 characters, so an error stays one short line.
pub(crate) fn shown(s: &str) -> String {
    if s.chars().count() > 60 {
        s.chars().take(57).collect::<String>() + "..."
    } else {
        s.to_string()
    }
}

/// A value as messages show it after "is".
pub(crate) fn describe(v: &Val) -> String {
    match v {
        Val::Str(s) => format!("{:?}", shown(s)),
        Val::Int(i) => i.to_string(),
        // `1e9` as `1e9`, not `1000000000.0`.
        Val::Float(f) if f.abs() >= 1e6 => format!("{f:e}"),
        Val::Float(f) => format!("{f:?}"),
        Val::Bool(b) => b.to_string(),
        Val::Null => "null".into(),
        Val::Datetime(d) => format!("a datetime ({d})"),
        Val::Array(items) if items.is_empty() => "an empty array".into(),
        Val::Array(_) => "an array".into(),
        Val::Table(entries) if entries.is_empty() => "an empty table".into(),
        Val::Table(_) => "a table".into(),
    }
}

/// Backticked, comma-separated names for "expected one of" lists.
pub(crate) fn list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value together with how messages name it: `` `key` in [table] ``.
#[derive(Clone)]
pub(crate) struct Field<'n> {
    pub node: &'n Node,
    /// The key (or `key[i]` for an array element); empty for a whole file.
    pub key: String,
    /// The table it is in, e.g. `[load]`, or the whole-file name.
    pub within: String,
}

impl<'n> Field<'n> {
    /// A whole file's root.
    pub fn root(node: &'n Node) -> Self {
        Field {
            node,
            key: String::new(),
            within: "the top level".into(),
        }
    }

    /// How messages name this value.
    pub fn label(&self) -> String {
        if self.key.is_empty() {
            shown(&self.within)
        } else {
            format!("`{}` in {}", shown(&self.key), shown(&self.within))
        }
    }

    /// An error here: "LABEL MESSAGE".
    pub fn fail(&self, message: impl std::fmt::Display) -> SuiteError {
        SuiteError::at(&self.node.at, format!("{} {message}", self.label()))
    }

    /// An error here: "LABEL is FOUND, expected EXPECTED".
    pub fn expected(&self, expected: impl std::fmt::Display) -> SuiteError {
        self.fail(format_args!(
            "is {}, expected {expected}",
            describe(&self.node.val)
        ))
    }

    /// A string.
    pub fn str(&self, expected: &str) -> Res<&'n str> {
        match &self.node.val {
            Val::Str(s) => Ok(s),
            _ => Err(self.expected(expected)),
        }
    }

    /// The name of one of `services`.
    pub fn service_name(&self, services: &[super::ServiceSpec]) -> Res<String> {
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        let expected = format!("the name of a service: {}", list(&names));
        let s = self.str(&expected)?;
        if !names.contains(&s) {
            return Err(self.expected(expected));
        }
        Ok(s.to_string())
    }

    /// A boolean.
    pub fn bool(&self) -> Res<bool> {
        match self.node.val {
            Val::Bool(b) => Ok(b),
            _ => Err(self.expected("true or false")),
        }
    }

    /// A duration string, at most [`super::limits::MAX_DURATION`].
    pub fn dur(&self) -> Res<Dur> {
        self.str(DUR_EXPECTED)?.parse().map_err(|e| match e {
            DurError::TooLong(_) => self.expected(format_args!(
                "a duration of at most {}",
                max_duration_text()
            )),
            DurError::Syntax(_) => self.expected(DUR_EXPECTED),
        })
    }

    /// A duration bound (`"<2s"`, `"<= 250ms"`) whose limit is not zero.
    pub fn below(&self) -> Res<Below> {
        match self.str(BELOW_EXPECTED)?.parse::<Below>() {
            Ok(b) if !b.limit.0.is_zero() => Ok(b),
            Ok(_) => Err(self.expected(format_args!("{BELOW_EXPECTED}, more than zero"))),
            Err(DurError::TooLong(_)) => {
                Err(self.expected(format_args!("a bound of at most {}", max_duration_text())))
            }
            Err(DurError::Syntax(_)) => Err(self.expected(BELOW_EXPECTED)),
        }
    }

    /// A duration string that is not zero.
    pub fn pos_dur(&self) -> Res<Dur> {
        let d = self.dur()?;
        if d.0.is_zero() {
            return Err(self.expected(format_args!("{DUR_EXPECTED}, more than zero")));
        }
        Ok(d)
    }

    /// A number, integer or float, finite.
    pub fn number(&self, expected: &str) -> Res<f64> {
        match self.node.val {
            // Suite numbers are small; the cast cannot lose anything that matters.
            Val::Int(i) => Ok(i as f64),
            Val::Float(f) if f.is_finite() => Ok(f),
            _ => Err(self.expected(expected)),
        }
    }

    /// An integer within `lo..=hi`.
    pub fn int<T>(&self, lo: T, hi: T) -> Res<T>
    where
        T: Copy + std::fmt::Display + Into<i128> + TryFrom<i128>,
    {
        let expected = || self.expected(format_args!("an integer from {lo} to {hi}"));
        match self.node.val {
            Val::Int(i) if (lo.into()..=hi.into()).contains(&i) => {
                T::try_from(i).map_err(|_| expected())
            }
            _ => Err(expected()),
        }
    }

    /// One of a fixed set of strings, mapped to its value.
    pub fn one_of<T: Copy>(&self, options: &[(&str, T)]) -> Res<T> {
        let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
        let expected = format!("one of {}", names.join(", "));
        let s = self.str(&expected)?;
        options
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.expected(&expected))
    }

    /// An array's elements, each named `key[i]`.
    pub fn items(&self, expected: &str) -> Res<Vec<Field<'n>>> {
        match &self.node.val {
            Val::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    node,
                    key: format!("{}[{i}]", self.key),
                    within: self.within.clone(),
                })
                .collect()),
            _ => Err(self.expected(expected)),
        }
    }

    /// A table named `name` in messages, whose keys must all be in `allowed` (`None`: any key).
    pub fn table(&self, name: impl Into<String>, allowed: Option<&[&str]>) -> Res<Tbl<'n>> {
        let Val::Table(entries) = &self.node.val else {
            return Err(self.expected("a table"));
        };
        let tbl = Tbl {
            node: self.node,
            entries,
            name: name.into(),
        };
        if let Some(allowed) = allowed
            && let Some((k, n)) = entries.iter().find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            return Err(SuiteError::at(
                &n.at,
                format!(
                    "unknown key `{}` in {}, expected one of {}",
                    shown(k),
                    shown(&tbl.name),
                    list(allowed)
                ),
            ));
        }
        Ok(tbl)
    }
}

/// A table being read.
pub(crate) struct Tbl<'n> {
    pub node: &'n Node,
    pub entries: &'n [(String, Node)],
    /// How messages name it, e.g. `[service.api]`.
    pub name: String,
}

impl<'n> Tbl<'n> {
    /// The entry `key`, if present.
    pub fn get(&self, key: &str) -> Option<Field<'n>> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, node)| Field {
                node,
                key: k.clone(),
                within: self.name.clone(),
            })
    }

    /// The entry `key`, or an error at the table saying what it should have held.
    pub fn req(&self, key: &str, expected: &str) -> Res<Field<'n>> {
        self.get(key).ok_or_else(|| {
            SuiteError::at(
                &self.node.at,
                format!(
                    "missing `{key}` in {}, expected {expected}",
                    shown(&self.name)
                ),
            )
        })
    }

    /// The name a nested table `key` gets in messages.
    pub fn sub(&self, key: &str) -> String {
        match self
            .name
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
        {
            Some(inner) if !inner.starts_with('[') => format!("[{inner}.{key}]"),
            _ => format!("`{key}` in {}", self.name),
        }
    }
}
