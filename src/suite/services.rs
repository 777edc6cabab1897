//! The `[service]` table(s): one bare service named `main`, or named `[service.NAME]` tables.

use super::check::{Field, Res, Tbl, list};
use super::limits::{MAX_NAME_BYTES, MAX_RESTARTS};
use super::load::{SuiteError, opt};
use super::tree::{Loc, Val};
use super::{Probe, Ready, Restart, ServiceSpec, StopMode};
use crate::units::Dur;
use nix::sys::signal::Signal;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The keys of one service; a `[service]` table holding any of them is the single form.
const SERVICE_KEYS: &[&str] = &[
    "command",
    "env",
    "ready",
    "restart",
    "after",
    "entry",
    "health",
    "stop_grace",
    "port",
    "stop_signal",
    "stop_mode",
];

/// A `{...}` in a command element whose content looks like a name is a placeholder; other braces
/// (say, a JSON argument) are left alone.
pub(crate) static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    Regex::new(r"\{([A-Za-z0-9_.-]*)\}").unwrap()
});

/// One service as read, before ordering.
struct Decl<'n> {
    spec: ServiceSpec,
    /// Where the service's table stands.
    at: Loc,
    /// `after` entries, each with where it stands.
    after: Vec<Field<'n>>,
    /// The `entry` key when it says true.
    entry: Option<Field<'n>>,
    /// The `port` key, if any.
    port: Option<Field<'n>>,
}

/// Read the services, check `after`, placeholders and the entry, and return them in start order.
/// `provided`: the placeholders the suite's `requires` fills (`vllm_cpu`).
pub(crate) fn services(top: &Tbl, provided: &[&str]) -> Res<Vec<ServiceSpec>> {
    let field = top.req(
        "service",
        "a [service] table with `command`, or [service.NAME] tables",
    )?;
    let t = field.table("[service]", None)?;
    // An empty [service] counts as the single form, so the error is the missing `command`.
    let single = t.entries.is_empty()
        || t.entries
            .iter()
            .any(|(k, _)| SERVICE_KEYS.contains(&k.as_str()));
    let named: Vec<(String, Field, String)> = if single {
        vec![("main".to_string(), field.clone(), "[service]".to_string())]
    } else {
        let mut v = Vec::new();
        for (k, node) in t.entries {
            let f = Field {
                node,
                key: k.clone(),
                within: "[service]".into(),
            };
            if !is_service_name(k) {
                return Err(f.fail(format_args!(
                    "is not a valid service name, expected 1 to {MAX_NAME_BYTES} letters, \
                     digits, `_` and `-` (or one of {} for a single service)",
                    list(SERVICE_KEYS)
                )));
            }
            v.push((k.clone(), f, format!("[service.{k}]")));
        }
        v
    };
    let names: Vec<&str> = named.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut decls = Vec::new();
    for (name, f, tname) in &named {
        decls.push(service(name, f, tname, &names, provided)?);
    }
    choose_entry(&mut decls, &field, &names)?;
    distinct_ports(&decls)?;
    order(decls)
}

fn is_service_name(s: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn service<'n>(
    name: &str,
    f: &Field<'n>,
    tname: &str,
    names: &[&str],
    provided: &[&str],
) -> Res<Decl<'n>> {
    let t = f.table(tname, Some(SERVICE_KEYS))?;

    let cmd_expected = "a non-empty array of strings (the argv)";
    let cmd_f = t.req("command", cmd_expected)?;
    let items = cmd_f.items(cmd_expected)?;
    if items.is_empty() {
        return Err(cmd_f.expected(cmd_expected));
    }
    let mut command = Vec::new();
    for item in &items {
        let arg = item.str(cmd_expected)?;
        check_placeholders(item, arg, names, provided)?;
        command.push(arg.to_string());
    }

    let env = env(&t, &|v, value| {
        check_placeholders(v, value, names, provided)
    })?;
    let port = opt(t.get("port"), |p| p.int(1, u16::MAX))?;
    // The readiness probe and load reach a service on its port: it must be told it, or say it.
    let told = command.iter().chain(env.values()).any(|a| {
        PLACEHOLDER
            .captures_iter(a)
            .any(|c| c.get(1).is_some_and(|m| m.as_str() == "port"))
    });
    if !told && port.is_none() {
        return Err(cmd_f.fail(format_args!(
            "has no `{{port}}`, expected `{{port}}` in an argument (or an `env` value) to tell \
             the service the port to listen on, or `port = N` in {tname} for a service that \
             always listens on port N"
        )));
    }

    let ready = ready(&t)?;
    let restart = restart(&t)?;

    let mut after: Vec<Field<'n>> = Vec::new();
    if let Some(f) = t.get("after") {
        let expected = "an array of service names";
        let others: Vec<&str> = names.iter().copied().filter(|n| *n != name).collect();
        for item in f.items(expected)? {
            let dep = item.str(expected)?;
            if dep == name || !others.contains(&dep) {
                return Err(if others.is_empty() {
                    item.expected("no `after` (there is no other service)")
                } else {
                    item.expected(format_args!(
                        "the name of another service: {}",
                        list(&others)
                    ))
                });
            }
            if after.iter().any(|a| a.str("").ok() == Some(dep)) {
                return Err(item.expected("each service once"));
            }
            after.push(item);
        }
    }

    let entry = match t.get("entry") {
        Some(f) if f.bool()? => Some(f),
        _ => None,
    };

    let health = match t.get("health") {
        None => match &ready.probe {
            Probe::Http(p) => Some(p.clone()),
            Probe::Tcp => None,
        },
        Some(f) => match &f.node.val {
            Val::Bool(false) => None,
            Val::Str(_) => Some(http_path(&f, "an HTTP path such as \"/health\", or false")?),
            _ => return Err(f.expected("an HTTP path such as \"/health\", or false")),
        },
    };

    Ok(Decl {
        at: f.node.at.clone(),
        spec: ServiceSpec {
            name: name.to_string(),
            command,
            env,
            ready,
            restart,
            after: after
                .iter()
                .filter_map(|a| a.str("").ok().map(str::to_string))
                .collect(),
            entry: false,
            health,
            stop_grace: opt(t.get("stop_grace"), Field::dur)?.unwrap_or(Dur::from_secs(5)),
            port,
            stop_signal: opt(t.get("stop_signal"), stop_signal)?.unwrap_or(Signal::SIGTERM),
            stop_mode: match t.get("stop_mode") {
                Some(f) => f.one_of(&[("main", StopMode::Main), ("group", StopMode::Group)])?,
                None => StopMode::Main,
            },
            cwd: None,
        },
        port: t.get("port"),
        after,
        entry,
    })
}

/// A signal by name (`"SIGTERM"`, `"term"`) or number (`"15"`).
pub fn signal(s: &str) -> Option<Signal> {
    let upper = s.trim().to_ascii_uppercase();
    let named = if upper.starts_with("SIG") {
        upper.clone()
    } else {
        format!("SIG{upper}")
    };
    named
        .parse()
        .ok()
        .or_else(|| Signal::try_from(upper.parse::<i32>().ok()?).ok())
}

fn stop_signal(f: &Field) -> Res<Signal> {
    let expected = r#"a signal such as "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP" or "SIGUSR1""#;
    signal(f.str(expected)?).ok_or_else(|| f.expected(expected))
}

/// The `env` table of `t`: variable names (non-empty, no `=` or NUL) to string values, each
/// value first passed to `check` (its placeholders).
pub(crate) fn env(
    t: &Tbl,
    check: &dyn Fn(&Field, &str) -> Res<()>,
) -> Res<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let Some(f) = t.get("env") else {
        return Ok(env);
    };
    let et = f.table(t.sub("env"), None)?;
    for (k, _) in et.entries {
        let Some(v) = et.get(k) else { continue };
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(v.fail("is not a valid variable name, expected no `=` and no NUL"));
        }
        let value = v.str("a string")?;
        check(&v, value)?;
        env.insert(k.clone(), value.to_string());
    }
    Ok(env)
}

/// A string that starts with `/`.
fn http_path(f: &Field, expected: &str) -> Res<String> {
    let p = f.str(expected)?;
    if !p.starts_with('/') {
        return Err(f.expected(expected));
    }
    Ok(p.to_string())
}

fn check_placeholders(item: &Field, arg: &str, names: &[&str], provided: &[&str]) -> Res<()> {
    for cap in PLACEHOLDER.captures_iter(arg) {
        let inner = cap.get(1).map_or("", |m| m.as_str());
        let ok = inner == "port"
            || provided.contains(&inner)
            || inner
                .strip_prefix("port.")
                .is_some_and(|n| names.contains(&n));
        if !ok {
            return Err(item.fail(format_args!(
                "has placeholder `{{{inner}}}`, expected `{{port}}` or `{{port.NAME}}` with NAME one of {}{}",
                list(names),
                provided_hint(provided)
            )));
        }
    }
    Ok(())
}

/// The placeholders a suite's `requires` fills, as an error message lists them; without
/// any, how to get one.
pub(crate) fn provided_hint(provided: &[&str]) -> String {
    if provided.is_empty() {
        " (a requirement's placeholder, such as `{vllm_cpu}`, needs `requires` in [suite])".into()
    } else {
        let names: Vec<String> = provided.iter().map(|p| format!("`{{{p}}}`")).collect();
        format!(", or {}", names.join(", "))
    }
}

fn ready(t: &Tbl) -> Res<Ready> {
    let mut r = Ready {
        probe: Probe::Tcp,
        within: Dur::from_secs(60),
    };
    let Some(f) = t.get("ready") else {
        return Ok(r);
    };
    let rt = f.table(t.sub("ready"), Some(&["http", "tcp", "within"]))?;
    if let Some(h) = rt.get("http") {
        r.probe = Probe::Http(http_path(&h, "an HTTP path such as \"/health\"")?);
    }
    if let Some(tcp) = rt.get("tcp") {
        if rt.get("http").is_some() {
            return Err(tcp.fail("is given with `http`, expected only one of `http` and `tcp`"));
        }
        if !tcp.bool()? {
            return Err(tcp.expected("true (or `http = \"/path\"` for an HTTP probe)"));
        }
    }
    if let Some(w) = rt.get("within") {
        r.within = w.pos_dur()?;
    }
    Ok(r)
}

fn restart(t: &Tbl) -> Res<Restart> {
    let Some(f) = t.get("restart") else {
        return Ok(Restart::Never);
    };
    let rt = f.table(t.sub("restart"), Some(&["policy", "max", "backoff"]))?;
    // Each policy but `never` builds its `Restart` from `max` and `backoff`.
    type Make = fn(u32, Dur) -> Restart;
    let make = match rt.get("policy") {
        Some(p) => p.one_of::<Option<Make>>(&[
            ("never", None),
            (
                "on-failure",
                Some(|max, backoff| Restart::OnFailure { max, backoff }),
            ),
            (
                "always",
                Some(|max, backoff| Restart::Always { max, backoff }),
            ),
        ])?,
        None => None,
    };
    let Some(make) = make else {
        // `max` or `backoff` with no policy is most likely a forgotten `policy = "on-failure"`.
        if let Some(k) = rt.get("max").or_else(|| rt.get("backoff")) {
            return Err(k.fail(
                "has no effect with policy \"never\", expected policy = \"on-failure\" or \"always\" alongside it",
            ));
        }
        return Ok(Restart::Never);
    };
    let max = opt(rt.get("max"), |m| m.int(0, MAX_RESTARTS))?.unwrap_or(3);
    let backoff = opt(rt.get("backoff"), Field::dur)?.unwrap_or(Dur::from_secs(1));
    Ok(make(max, backoff))
}

/// Two services cannot both listen on one fixed port.
fn distinct_ports(decls: &[Decl]) -> Res<()> {
    for (i, d) in decls.iter().enumerate() {
        let (Some(p), Some(f)) = (d.spec.port, &d.port) else {
            continue;
        };
        if let Some(other) = decls[..i].iter().find(|o| o.spec.port == Some(p)) {
            return Err(f.expected(format_args!(
                "a port no other service has ([service.{}] says port = {p} too)",
                other.spec.name
            )));
        }
    }
    Ok(())
}

/// One service is the entry by itself; several need exactly one `entry = true`.
fn choose_entry(decls: &mut [Decl], service: &Field, names: &[&str]) -> Res<()> {
    if let [only] = decls {
        only.spec.entry = true;
        return Ok(());
    }
    let mut first: Option<usize> = None;
    for (i, d) in decls.iter().enumerate() {
        if let Some(e) = &d.entry {
            if let Some(f) = first {
                return Err(e.fail(format_args!(
                    "is true but [service.{}] already says entry = true, expected exactly one entry service",
                    decls[f].spec.name
                )));
            }
            first = Some(i);
        }
    }
    let Some(i) = first else {
        return Err(SuiteError::at(
            &service.node.at,
            format!(
                "no service in [service] says entry = true, expected exactly one of {} to say so",
                list(names)
            ),
        ));
    };
    decls[i].spec.entry = true;
    Ok(())
}

/// Start order: each service after its `after` services, otherwise file order; a cycle is an error.
fn order(decls: Vec<Decl>) -> Res<Vec<ServiceSpec>> {
    let index = |n: &str| decls.iter().position(|d| d.spec.name == n);
    let deps: Vec<Vec<usize>> = decls
        .iter()
        .map(|d| {
            d.after
                .iter()
                .filter_map(|a| a.str("").ok().and_then(index))
                .collect()
        })
        .collect();
    let mut placed = vec![false; decls.len()];
    let mut order = Vec::with_capacity(decls.len());
    while order.len() < decls.len() {
        let next = (0..decls.len()).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(cycle(&decls, &deps, &placed)),
        }
    }
    Ok(order.into_iter().map(|i| decls[i].spec.clone()).collect())
}

/// Find a cycle among the unplaced services and report it at the `after` entry that closes it.
fn cycle(decls: &[Decl], deps: &[Vec<usize>], placed: &[bool]) -> SuiteError {
    // Every unplaced service waits on an unplaced one, so walking those edges must repeat.
    let start = placed.iter().position(|p| !p).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    let cyc = loop {
        let Some(&next) = deps[cur].iter().find(|&&d| !placed[d]) else {
            break vec![start];
        };
        if let Some(pos) = path.iter().position(|&p| p == next) {
            break path[pos..].to_vec();
        }
        path.push(next);
        cur = next;
    };
    // Start the story at the service that comes first in the file.
    let first = cyc
        .iter()
        .enumerate()
        .min_by_key(|(_, i)| **i)
        .map_or(0, |(p, _)| p);
    let mut cyc: Vec<usize> = cyc[first..].iter().chain(&cyc[..first]).copied().collect();
    let closer = *cyc.last().unwrap_or(&start);
    let head = cyc[0];
    cyc.push(head);
    let story = cyc
        .iter()
        .map(|&i| decls[i].spec.name.as_str())
        .collect::<Vec<_>>()
        .join(" after ");
    let head_name = decls[head].spec.name.as_str();
    let at = match decls[closer]
        .after
        .iter()
        .find(|a| a.str("").ok() == Some(head_name))
    {
        Some(f) => {
            return f.fail(format_args!(
                "makes a dependency cycle ({story}), expected `after` to form no cycle"
            ));
        }
        None => &decls[closer].at,
    };
    SuiteError::at(
        at,
        format!("dependency cycle ({story}), expected `after` to form no cycle"),
    )
}
