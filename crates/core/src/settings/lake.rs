//! Reading the lake sections of `nightshift.toml`: `[lake]`, `[lake.storage]` (which refuses
//! credentials) and the explicit `[[tables]]`.

use std::ops::Range;

use nightshift_lake::{ColumnSpec, LakeSpec, PartitionSpec, PartitionType, StorageOptions, TableSpec};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::values::parse_sql_type;
use crate::toml_reader::TomlReader;

/// Storage keys that would carry secrets; they are refused in the file.
const SECRET_KEYS: &[&str] = &[
    "access_key_id",
    "secret_access_key",
    "session_token",
    "token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "account_key",
    "azure_storage_account_key",
    "client_secret",
    "service_account_key",
    "password",
    "sas_token",
];

/// `[lake]`
pub(super) fn parse_lake(r: &mut TomlReader<'_>, t: &DeTable<'_>, lake: &mut LakeSpec) {
    let known = ["root", "discover", "storage"];
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "root" => {
                if let Some(s) = r.string(v, "lake.root") {
                    if s.trim().is_empty() {
                        r.issue(&v.span(), "lake.root", "must not be empty");
                    } else {
                        lake.root = s;
                    }
                }
            }
            "discover" => {
                if let Some(b) = r.boolean(v, "lake.discover") {
                    lake.discover = b;
                }
            }
            "storage" => {
                if let Some(st) = r.table(v, "lake.storage") {
                    parse_storage(r, st, &mut lake.storage);
                }
            }
            other => r.unknown(k, &format!("lake.{other}"), &known),
        }
    }
}

fn parse_storage(r: &mut TomlReader<'_>, t: &DeTable<'_>, s: &mut StorageOptions) {
    let known = [
        "endpoint",
        "region",
        "allow_http",
        "virtual_hosted_style",
        "skip_signature",
        "max_retries",
        "retry_timeout_seconds",
        "request_timeout_seconds",
        "connect_timeout_seconds",
    ];
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("lake.storage.{name}");
        match name {
            "endpoint" => s.endpoint = r.string(v, &key),
            "region" => s.region = r.string(v, &key),
            "allow_http" => s.allow_http = r.boolean(v, &key).unwrap_or(s.allow_http),
            "virtual_hosted_style" => s.virtual_hosted_style = r.boolean(v, &key).unwrap_or(s.virtual_hosted_style),
            "skip_signature" => s.skip_signature = r.boolean(v, &key).unwrap_or(s.skip_signature),
            "max_retries" => {
                if let Some(n) = r.int(v, &key) {
                    match usize::try_from(n) {
                        Ok(n) if n <= 100 => s.retry.max_retries = n,
                        _ => r.issue(&v.span(), &key, format!("{n} is not a number of retries from 0 to 100")),
                    }
                }
            }
            "retry_timeout_seconds" => {
                if let Some(n) = r.positive(v, &key) {
                    s.retry.retry_timeout_seconds = n as u64;
                }
            }
            "request_timeout_seconds" => {
                if let Some(n) = r.positive(v, &key) {
                    s.retry.request_timeout_seconds = n as u64;
                }
            }
            "connect_timeout_seconds" => {
                if let Some(n) = r.positive(v, &key) {
                    s.retry.connect_timeout_seconds = n as u64;
                }
            }
            secret if SECRET_KEYS.contains(&secret.to_ascii_lowercase().as_str()) => r.issue(
                &k.span(),
                &key,
                "credentials are never read from the file: set them in the environment \
                 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_ACCOUNT_KEY, …) \
                 and remove this key",
            ),
            _ => r.unknown(k, &key, &known),
        }
    }
}

/// `[[tables]]`: each well-formed table is added to `tables`; a name declared twice is a problem.
pub(super) fn parse_tables(r: &mut TomlReader<'_>, v: &Spanned<DeValue<'_>>, tables: &mut Vec<TableSpec>) {
    let Some(a) = r.array(v, "tables") else {
        return;
    };
    for (i, item) in a.iter().enumerate() {
        let key = format!("tables[{i}]");
        if let Some(t) = r.table(item, &key)
            && let Some(spec) = parse_table(r, t, &key, &item.span())
        {
            if tables.iter().any(|s| s.name == spec.name) {
                r.issue(
                    &item.span(),
                    &key,
                    format!("table '{}' is declared twice", spec.name),
                );
            }
            tables.push(spec);
        }
    }
}

fn parse_table(r: &mut TomlReader<'_>, t: &DeTable<'_>, key: &str, span: &Range<usize>) -> Option<TableSpec> {
    let known = ["name", "path", "partitions", "schema"];
    let mut name = None;
    let mut path = None;
    let mut partitions = Vec::new();
    let mut schema = None;
    let mut ok = true;
    for (k, v) in t.iter() {
        let field = k.get_ref().as_ref();
        let fkey = format!("{key}.{field}");
        match field {
            "name" => {
                name = r.string(v, &fkey);
                if let Some(n) = &name
                    && (n.is_empty() || n.contains(['.', '"', '/']))
                {
                    r.issue(&v.span(), &fkey, format!("'{n}' is not a usable table name"));
                    ok = false;
                }
            }
            "path" => path = r.string(v, &fkey),
            "partitions" => match r.array(v, &fkey) {
                Some(a) => {
                    for (i, item) in a.iter().enumerate() {
                        let ikey = format!("{fkey}[{i}]");
                        match column_pair(r, item, &ikey) {
                            Some((n, ty)) => match PartitionType::parse(&ty) {
                                Some(data_type) => partitions.push(PartitionSpec { name: n, data_type }),
                                None => {
                                    r.issue(
                                        &item.span(),
                                        &ikey,
                                        format!("unknown partition type '{ty}'; use date, int or string"),
                                    );
                                    ok = false;
                                }
                            },
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            },
            "schema" => match r.array(v, &fkey) {
                Some(a) => {
                    let mut cols = Vec::new();
                    for (i, item) in a.iter().enumerate() {
                        let ikey = format!("{fkey}[{i}]");
                        match column_pair(r, item, &ikey) {
                            Some((n, ty)) => match parse_sql_type(&ty) {
                                Some(data_type) => cols.push(ColumnSpec { name: n, data_type }),
                                None => {
                                    r.issue(&item.span(), &ikey, format!(
                                        "unknown column type '{ty}'; use boolean, tinyint, smallint, int, bigint, \
                                         real, double, varchar, date, timestamp or binary"
                                    ));
                                    ok = false;
                                }
                            },
                            None => ok = false,
                        }
                    }
                    schema = Some(cols);
                }
                None => ok = false,
            },
            other => {
                r.unknown(k, &format!("{key}.{other}"), &known);
                ok = false;
            }
        }
    }
    if name.is_none() {
        r.issue(span, key, "a table needs a 'name'");
    }
    if path.is_none() {
        r.issue(
            span,
            key,
            "a table needs a 'path' (a folder, file or glob under the lake root, or a URL)",
        );
    }
    if let Some(p) = &path
        && p.split(['/', '\\']).any(|s| s == "..")
    {
        r.issue(
            span,
            &format!("{key}.path"),
            format!("'{p}' leaves the lake root ('..' is not allowed)"),
        );
        ok = false;
    }
    let (name, path) = (name?, path?);
    ok.then_some(TableSpec {
        name,
        path,
        partitions,
        schema,
    })
}

/// `{ name = "x", type = "date" }`
fn column_pair(r: &mut TomlReader<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Option<(String, String)> {
    let t = r.table(v, key)?;
    let mut name = None;
    let mut ty = None;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "name" => name = r.string(v, &format!("{key}.name")),
            "type" => ty = r.string(v, &format!("{key}.type")),
            other => r.unknown(k, &format!("{key}.{other}"), &["name", "type"]),
        }
    }
    match (name, ty) {
        (Some(n), Some(t)) => Some((n, t)),
        _ => {
            r.issue(&v.span(), key, "write { name = \"…\", type = \"…\" }");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::settings::Settings;

    #[test]
    fn refuses_secrets_in_the_file() {
        let err = Settings::from_toml(
            "[lake.storage]\nsecret_access_key = \"abc\"\n",
            Path::new("/p/nightshift.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("never read from the file"), "{err}");
        assert!(!err.to_string().contains("abc"));
    }

    #[test]
    fn bad_tables_name_each_problem() {
        let err = Settings::from_toml(
            "[[tables]]\nname = \"t\"\npath = \"../outside\"\npartitions = [{ name = \"d\", type = \"datetime\" }]\n\
             schema = [{ name = \"x\" }]\n",
            Path::new("/p/nightshift.toml"),
        )
        .unwrap_err();
        let shown = err.to_string();
        for needle in [
            "tables[0].path: '../outside' leaves the lake root",
            ":4: tables[0].partitions[0]: unknown partition type 'datetime'",
            ":5: tables[0].schema[0]: write { name = \"…\", type = \"…\" }",
        ] {
            assert!(shown.contains(needle), "no {needle:?} in {shown}");
        }
    }
}
