//! Rust code generator for parsed Jute modules.
//!
//! Each module becomes `pub mod <last segment>` (`org.apache.zookeeper.proto` → `proto`).
//! Each record becomes a struct deriving `Debug, Clone, PartialEq, Eq, Hash, Default` with:
//!
//! * field names in snake_case (`lastZxidSeen` → `last_zxid_seen`, `type` → `type_`);
//! * record names as written, except all-capital names which are camel-cased (`ACL` → `Acl`);
//! * types: `int` i32, `long` i64, `boolean` bool, `byte` i8, `buffer` `Option<Bytes>`,
//!   `ustring` `Option<JString>`, `vector<T>` `Option<Vec<T>>` (`None` is Jute's null, -1);
//!   inside a vector, elements are never null;
//! * impls of `zk_jute::Record` and `zk_jute::sample::Sample`.
//!
//! A `visit_records` function at the top level calls a `RecordVisitor` once per record, so
//! tests can cover every record without listing them.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::idl::{Module, Type};

/// A schema problem the generator cannot turn into code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    /// A field names a record that no module defines.
    #[error("{record}.{field}: unknown record type `{ty}`")]
    UnknownType {
        /// The record holding the field.
        record: String,
        /// The field.
        field: String,
        /// The type as written.
        ty: String,
    },
    /// Two records would get the same Rust path.
    #[error("record `{0}` is defined twice")]
    Duplicate(String),
}

/// The Rust name of a record (`ACL` → `Acl`).
pub fn rust_type_name(name: &str) -> String {
    if name.len() > 1
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        let mut s = name[..1].to_string();
        s.push_str(&name[1..].to_ascii_lowercase());
        s
    } else {
        name.to_string()
    }
}

/// The Rust name of a field (`parentCVersion` → `parent_c_version`).
pub fn rust_field_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "mod" | "use" | "fn" | "in" | "loop" | "move" | "self"
        | "struct" | "trait" | "impl" | "where" | "async" | "await" | "dyn" | "box" => {
            out.push('_');
            out
        }
        _ => out,
    }
}

fn module_rust_name(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

struct Resolver {
    /// qualified record name → Rust path relative to a module (`super::data::Stat`)
    by_qualified: HashMap<String, String>,
}

impl Resolver {
    fn resolve(&self, current_module: &str, name: &str) -> Option<String> {
        let qualified = if name.contains('.') {
            name.to_string()
        } else {
            format!("{current_module}.{name}")
        };
        self.by_qualified.get(&qualified).cloned()
    }
}

struct Ctx<'a> {
    resolver: &'a Resolver,
    module: &'a str,
    record: &'a str,
    field: &'a str,
}

impl Ctx<'_> {
    fn record_path(&self, name: &str) -> Result<String, GenError> {
        self.resolver
            .resolve(self.module, name)
            .ok_or_else(|| GenError::UnknownType {
                record: self.record.to_string(),
                field: self.field.to_string(),
                ty: name.to_string(),
            })
    }

    /// Rust type; `elem` is true inside a vector (no null).
    fn rust_type(&self, t: &Type, elem: bool) -> Result<String, GenError> {
        Ok(match t {
            Type::Int => "i32".into(),
            Type::Long => "i64".into(),
            Type::Boolean => "bool".into(),
            Type::Byte => "i8".into(),
            Type::Buffer if elem => "::zk_jute::bytes::Bytes".into(),
            Type::Buffer => "::core::option::Option<::zk_jute::bytes::Bytes>".into(),
            Type::UString if elem => "::zk_jute::JString".into(),
            Type::UString => "::core::option::Option<::zk_jute::JString>".into(),
            Type::Vector(inner) if elem => {
                format!("::std::vec::Vec<{}>", self.rust_type(inner, true)?)
            }
            Type::Vector(inner) => format!(
                "::core::option::Option<::std::vec::Vec<{}>>",
                self.rust_type(inner, true)?
            ),
            Type::Record(name) => self.record_path(name)?,
        })
    }

    fn decode_expr(&self, t: &Type, elem: bool) -> Result<String, GenError> {
        Ok(match t {
            Type::Int => "d.read_i32()?".into(),
            Type::Long => "d.read_i64()?".into(),
            Type::Boolean => "d.read_bool()?".into(),
            Type::Byte => "d.read_byte()?".into(),
            Type::Buffer if elem => "d.read_buffer_elem()?".into(),
            Type::Buffer => "d.read_buffer()?".into(),
            Type::UString if elem => "d.read_string_elem()?".into(),
            Type::UString => "d.read_string()?".into(),
            Type::Vector(inner) => format!(
                "d.{}(|d| ::core::result::Result::Ok({}))?",
                if elem { "read_vec_elem" } else { "read_vec" },
                self.decode_expr(inner, true)?
            ),
            Type::Record(name) => format!("d.read_record::<{}>()?", self.record_path(name)?),
        })
    }

    /// Statement(s) appending `v` (an expression of type `&T` or `T` for Copy types).
    fn encode_stmt(&self, t: &Type, v: &str, elem: bool) -> Result<String, GenError> {
        Ok(match t {
            Type::Int => format!("::zk_jute::encode::put_i32(buf, {v})"),
            Type::Long => format!("::zk_jute::encode::put_i64(buf, {v})"),
            Type::Boolean => format!("::zk_jute::encode::put_bool(buf, {v})"),
            Type::Byte => format!("::zk_jute::encode::put_byte(buf, {v})"),
            Type::Buffer | Type::UString if elem => {
                format!("::zk_jute::encode::put_bytes(buf, ::core::convert::AsRef::<[u8]>::as_ref({v}))")
            }
            Type::Buffer => format!("::zk_jute::encode::put_buffer(buf, {v})"),
            Type::UString => format!("::zk_jute::encode::put_string(buf, {v})"),
            Type::Vector(inner) => format!(
                "::zk_jute::encode::{}(buf, {v}, |buf, e| {{ {}; }})",
                if elem { "put_vec_elem" } else { "put_vec" },
                self.encode_stmt(inner, &self.deref_copy(inner, "e"), true)?
            ),
            Type::Record(_) => format!("::zk_jute::Record::encode({v}, buf)"),
        })
    }

    /// `*e` for Copy primitives, `e` otherwise.
    fn deref_copy(&self, t: &Type, v: &str) -> String {
        match t {
            Type::Int | Type::Long | Type::Boolean | Type::Byte => format!("*{v}"),
            _ => v.to_string(),
        }
    }

    fn len_expr(&self, t: &Type, v: &str, elem: bool) -> Result<String, GenError> {
        Ok(match t {
            Type::Int => "4".into(),
            Type::Long => "8".into(),
            Type::Boolean | Type::Byte => "1".into(),
            Type::Buffer | Type::UString if elem => format!("4 + {v}.len()"),
            Type::Buffer | Type::UString => format!("::zk_jute::encode::bytes_len({v})"),
            Type::Vector(inner) => format!(
                "::zk_jute::encode::{}({v}, |e| {})",
                if elem { "vec_elem_len" } else { "vec_len" },
                self.len_expr(inner, "e", true)?
            ),
            Type::Record(_) => format!("::zk_jute::Record::encoded_len({v})"),
        })
    }

    fn sample_expr(&self, t: &Type, elem: bool) -> Result<String, GenError> {
        Ok(match t {
            Type::Int => "rng.int()".into(),
            Type::Long => "rng.long()".into(),
            Type::Boolean => "rng.boolean()".into(),
            Type::Byte => "rng.byte()".into(),
            Type::Buffer if elem => "rng.buffer_elem()".into(),
            Type::Buffer => "rng.buffer()".into(),
            Type::UString if elem => "rng.string_elem()".into(),
            Type::UString => "rng.string()".into(),
            Type::Vector(inner) => format!(
                "rng.{}(|rng| {})",
                if elem { "vector_elem" } else { "vector" },
                self.sample_expr(inner, true)?
            ),
            Type::Record(name) => format!(
                "<{} as ::zk_jute::sample::Sample>::sample(rng)",
                self.record_path(name)?
            ),
        })
    }
}

fn jute_type_name(t: &Type) -> String {
    match t {
        Type::Int => "int".into(),
        Type::Long => "long".into(),
        Type::Boolean => "boolean".into(),
        Type::Byte => "byte".into(),
        Type::Buffer => "buffer".into(),
        Type::UString => "ustring".into(),
        Type::Vector(inner) => format!("vector<{}>", jute_type_name(inner)),
        Type::Record(n) => n.clone(),
    }
}

fn doc_lines(out: &mut String, indent: &str, doc: &[String]) {
    for line in doc {
        let _ = writeln!(out, "{indent}#[doc = {:?}]", format!(" {line}"));
    }
}

/// Generates Rust source for `modules` (all schema files together, so cross-module
/// references resolve).
pub fn generate(modules: &[Module]) -> Result<String, GenError> {
    let mut by_qualified = HashMap::new();
    for m in modules {
        for r in &m.records {
            let q = format!("{}.{}", m.name, r.name);
            let path = format!(
                "super::{}::{}",
                module_rust_name(&m.name),
                rust_type_name(&r.name)
            );
            if by_qualified.insert(q.clone(), path).is_some() {
                return Err(GenError::Duplicate(q));
            }
        }
    }
    let resolver = Resolver { by_qualified };

    let mut out = String::new();
    out.push_str(
        "// @generated by zk-jute's code generator from jute-schemas/*.jute. Do not edit.\n\n",
    );
    let mut all_paths = Vec::new();

    // Modules with the same Rust name (none today) would clash; merge by emitting in order.
    for m in modules {
        let mname = module_rust_name(&m.name);
        let _ = writeln!(
            out,
            "#[doc = {:?}]",
            format!(" Records of the Jute module `{}`.", m.name)
        );
        if !m.doc.is_empty() {
            let _ = writeln!(out, "#[doc = \"\"]");
            doc_lines(&mut out, "", &m.doc);
        }
        let _ = writeln!(out, "pub mod {mname} {{");
        for r in &m.records {
            let rname = rust_type_name(&r.name);
            all_paths.push(format!("{mname}::{rname}"));
            let qualified = format!("{}.{}", m.name, r.name);
            let _ = writeln!(out);
            if r.doc.is_empty() {
                let _ = writeln!(
                    out,
                    "    #[doc = {:?}]",
                    format!(" Jute record `{qualified}`.")
                );
            } else {
                doc_lines(&mut out, "    ", &r.doc);
                let _ = writeln!(out, "    #[doc = \"\"]");
                let _ = writeln!(
                    out,
                    "    #[doc = {:?}]",
                    format!(" Jute record `{qualified}`.")
                );
            }
            let _ = writeln!(
                out,
                "    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]"
            );
            let _ = writeln!(out, "    pub struct {rname} {{");
            let mut decode = String::new();
            let mut encode = String::new();
            let mut lens = Vec::new();
            let mut sample = String::new();
            for f in &r.fields {
                let ctx = Ctx {
                    resolver: &resolver,
                    module: &m.name,
                    record: &qualified,
                    field: &f.name,
                };
                let fname = rust_field_name(&f.name);
                let summary = format!(" `{} {}`", jute_type_name(&f.ty), f.name);
                if f.doc.is_empty() {
                    let _ = writeln!(out, "        #[doc = {summary:?}]");
                } else {
                    doc_lines(&mut out, "        ", &f.doc);
                    let _ = writeln!(out, "        #[doc = \"\"]");
                    let _ = writeln!(out, "        #[doc = {summary:?}]");
                }
                let _ = writeln!(
                    out,
                    "        pub {fname}: {},",
                    ctx.rust_type(&f.ty, false)?
                );
                let _ = writeln!(
                    decode,
                    "                {fname}: {},",
                    ctx.decode_expr(&f.ty, false)?
                );
                let access = match f.ty {
                    Type::Int | Type::Long | Type::Boolean | Type::Byte => format!("self.{fname}"),
                    _ => format!("&self.{fname}"),
                };
                let _ = writeln!(
                    encode,
                    "            {};",
                    ctx.encode_stmt(&f.ty, &access, false)?
                );
                lens.push(ctx.len_expr(&f.ty, &format!("&self.{fname}"), false)?);
                let _ = writeln!(
                    sample,
                    "                {fname}: {},",
                    ctx.sample_expr(&f.ty, false)?
                );
            }
            let _ = writeln!(out, "    }}");
            let _ = writeln!(out);
            let d = if r.fields.is_empty() { "_d" } else { "d" };
            let b = if r.fields.is_empty() { "_buf" } else { "buf" };
            let g = if r.fields.is_empty() { "_rng" } else { "rng" };
            let lens = if lens.is_empty() {
                "0".to_string()
            } else {
                lens.join("\n            + ")
            };
            let _ = write!(
                out,
                "    impl ::zk_jute::Record for {rname} {{
        const NAME: &'static str = {qualified:?};

        fn decode({d}: &mut ::zk_jute::Decoder) -> ::core::result::Result<Self, ::zk_jute::Error> {{
            ::core::result::Result::Ok(Self {{
{decode}            }})
        }}

        fn encode(&self, {b}: &mut ::zk_jute::bytes::BytesMut) {{
{encode}        }}

        fn encoded_len(&self) -> usize {{
            {lens}
        }}
    }}

    impl ::zk_jute::sample::Sample for {rname} {{
        fn sample({g}: &mut ::zk_jute::sample::SampleRng) -> Self {{
            Self {{
{sample}            }}
        }}
    }}
"
            );
        }
        let _ = writeln!(out, "}}\n");
    }

    out.push_str("/// Every generated record's Java class name, in schema order.\n");
    out.push_str("pub const RECORD_NAMES: &[&str] = &[\n");
    for p in &all_paths {
        let _ = writeln!(out, "    <{p} as ::zk_jute::Record>::NAME,");
    }
    out.push_str("];\n\n");
    out.push_str("/// Calls `v.visit::<R>()` for every generated record `R`, in schema order.\n");
    out.push_str("pub fn visit_records<V: ::zk_jute::sample::RecordVisitor>(v: &mut V) {\n");
    for p in &all_paths {
        let _ = writeln!(out, "    v.visit::<{p}>();");
    }
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::parse;

    #[test]
    fn names() {
        assert_eq!(rust_type_name("ACL"), "Acl");
        assert_eq!(rust_type_name("ConnectRequest"), "ConnectRequest");
        assert_eq!(rust_type_name("CreateTTLTxn"), "CreateTTLTxn");
        assert_eq!(rust_field_name("lastZxidSeen"), "last_zxid_seen");
        assert_eq!(rust_field_name("parentCVersion"), "parent_c_version");
        assert_eq!(rust_field_name("paths2Delete"), "paths2_delete");
        assert_eq!(rust_field_name("type"), "type_");
        assert_eq!(rust_field_name("serverid"), "serverid");
        assert_eq!(
            rust_field_name("persistentRecursiveWatches"),
            "persistent_recursive_watches"
        );
    }

    #[test]
    fn unknown_record_type_is_an_error() {
        let m = parse("module a { class X { Y y; } }").unwrap();
        assert!(matches!(generate(&m), Err(GenError::UnknownType { .. })));
    }

    #[test]
    fn duplicate_record_is_an_error() {
        let m = parse("module a { class X { int y; } class X { int z; } }").unwrap();
        assert!(matches!(generate(&m), Err(GenError::Duplicate(_))));
    }

    #[test]
    fn cross_module_references_resolve() {
        let m = parse("module a.data { class S { int x; } } module a.proto { class R { a.data.S s; vector<a.data.S> v; } }").unwrap();
        let code = generate(&m).unwrap();
        assert!(code.contains("pub s: super::data::S,"), "{code}");
        assert!(code.contains("::std::vec::Vec<super::data::S>"), "{code}");
    }
}
