//! Parser for the Jute IDL (`.jute` files), written with nom.
//!
//! ```text
//! file    := { module }
//! module  := "module" qname "{" { class } "}"
//! class   := ("class" | "record") ident "{" { field } "}"
//! field   := type ident ";"
//! type    := "int" | "long" | "boolean" | "byte" | "buffer" | "ustring"
//!          | "vector" "<" type ">" | qname            (a record, qualified or local)
//! ```
//!
//! `//` and `/* */` comments may appear between any two tokens. Comments on the lines just
//! before a module, class or field become its documentation; a `//` comment after a field on
//! the same line is that field's documentation too.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_until, take_while, take_while1};
use nom::character::complete::{char, multispace1, not_line_ending, space0};
use nom::combinator::{map, opt, recognize};
use nom::multi::{many0, separated_list1};
use nom::sequence::{delimited, pair, preceded};
use nom::IResult;

/// A field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `int`: i32.
    Int,
    /// `long`: i64.
    Long,
    /// `boolean`: one byte.
    Boolean,
    /// `byte`: i8.
    Byte,
    /// `buffer`: length-prefixed bytes.
    Buffer,
    /// `ustring`: length-prefixed string bytes.
    UString,
    /// `vector<T>`: count-prefixed elements.
    Vector(Box<Type>),
    /// A record, by the name written in the schema (qualified or not).
    Record(String),
}

/// A field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name as written (camelCase).
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Documentation lines.
    pub doc: Vec<String>,
}

/// A record (`class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDef {
    /// Name as written.
    pub name: String,
    /// Fields in wire order.
    pub fields: Vec<Field>,
    /// Documentation lines.
    pub doc: Vec<String>,
}

/// A module: a dotted name and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Dotted name, e.g. `org.apache.zookeeper.proto`.
    pub name: String,
    /// Records in file order.
    pub records: Vec<RecordDef>,
    /// Documentation lines.
    pub doc: Vec<String>,
}

/// A parse failure with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

type Res<'a, T> = IResult<&'a str, T>;

/// One piece of trivia: a comment's text, or a blank line that separates comment blocks.
enum Trivia<'a> {
    Comment(&'a str),
    Space(&'a str),
}

fn line_comment(i: &str) -> Res<'_, &str> {
    preceded(tag("//"), not_line_ending)(i)
}

fn block_comment(i: &str) -> Res<'_, &str> {
    delimited(tag("/*"), take_until("*/"), tag("*/"))(i)
}

fn trivia(i: &str) -> Res<'_, Trivia<'_>> {
    alt((
        map(line_comment, Trivia::Comment),
        map(block_comment, Trivia::Comment),
        map(multispace1, Trivia::Space),
    ))(i)
}

/// Skips whitespace and comments; returns the comment lines of the last block, i.e. those
/// not separated from what follows by a blank line.
fn ws(i: &str) -> Res<'_, Vec<String>> {
    let (rest, items) = many0(trivia)(i)?;
    let mut doc: Vec<String> = Vec::new();
    for item in items {
        match item {
            Trivia::Comment(text) => {
                for line in text.lines() {
                    let line = line.trim().trim_start_matches('*').trim();
                    if !line.is_empty() {
                        doc.push(line.to_string());
                    }
                }
            }
            Trivia::Space(s) => {
                if s.matches('\n').count() >= 2 {
                    doc.clear();
                }
            }
        }
    }
    Ok((rest, doc))
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))(i)
}

fn qname(i: &str) -> Res<'_, &str> {
    recognize(separated_list1(char('.'), ident))(i)
}

fn keyword<'a>(kw: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| {
        let (rest, word) = ident(i)?;
        if word == kw {
            Ok((rest, word))
        } else {
            Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Tag,
            )))
        }
    }
}

fn ty(i: &str) -> Res<'_, Type> {
    let (rest, name) = qname(i)?;
    let t = match name {
        "int" => Type::Int,
        "long" => Type::Long,
        "boolean" => Type::Boolean,
        "byte" => Type::Byte,
        "buffer" => Type::Buffer,
        "ustring" => Type::UString,
        "vector" => {
            let (rest, _) = ws(rest)?;
            let (rest, _) = char('<')(rest)?;
            let (rest, _) = ws(rest)?;
            let (rest, inner) = ty(rest)?;
            let (rest, _) = ws(rest)?;
            let (rest, _) = char('>')(rest)?;
            return Ok((rest, Type::Vector(Box::new(inner))));
        }
        "float" | "double" | "map" => {
            // Jute has them; no ZooKeeper record uses them, so neither do we.
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Verify,
            )));
        }
        other => Type::Record(other.to_string()),
    };
    Ok((rest, t))
}

fn field(i: &str) -> Res<'_, Field> {
    let (rest, mut doc) = ws(i)?;
    let (rest, t) = ty(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, name) = ident(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, _) = char(';')(rest)?;
    // A `// comment` on the same line documents this field.
    let (rest, trailing) = opt(preceded(space0, line_comment))(rest)?;
    if let Some(t) = trailing {
        let t = t.trim();
        if !t.is_empty() {
            doc.push(t.to_string());
        }
    }
    Ok((
        rest,
        Field {
            name: name.to_string(),
            ty: t,
            doc,
        },
    ))
}

fn record(i: &str) -> Res<'_, RecordDef> {
    let (rest, doc) = ws(i)?;
    let (rest, _) = alt((keyword("class"), keyword("record")))(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, name) = ident(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, _) = char('{')(rest)?;
    let (rest, fields) = many0(field)(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, _) = char('}')(rest)?;
    Ok((
        rest,
        RecordDef {
            name: name.to_string(),
            fields,
            doc,
        },
    ))
}

fn module(i: &str) -> Res<'_, Module> {
    let (rest, doc) = ws(i)?;
    let (rest, _) = keyword("module")(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, name) = qname(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, _) = char('{')(rest)?;
    let (rest, records) = many0(record)(rest)?;
    let (rest, _) = ws(rest)?;
    let (rest, _) = char('}')(rest)?;
    Ok((
        rest,
        Module {
            name: name.to_string(),
            records,
            doc,
        },
    ))
}

fn position(src: &str, rest: &str) -> (usize, usize) {
    let offset = src.len().saturating_sub(rest.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses one `.jute` file into its modules.
pub fn parse(src: &str) -> Result<Vec<Module>, ParseError> {
    let (rest, modules) = many0(module)(src).map_err(|e| {
        let (rest, kind) = match &e {
            nom::Err::Error(e) | nom::Err::Failure(e) => (e.input, format!("{:?}", e.code)),
            nom::Err::Incomplete(_) => ("", "incomplete".to_string()),
        };
        let (line, column) = position(src, rest);
        ParseError {
            line,
            column,
            message: format!("syntax error ({kind})"),
        }
    })?;
    let (rest, _) = ws(rest).map_err(|_| ParseError {
        line: 0,
        column: 0,
        message: "unterminated comment".into(),
    })?;
    if !rest.is_empty() {
        let (line, column) = position(src, rest);
        let near: String = rest.chars().take(30).collect();
        return Err(ParseError {
            line,
            column,
            message: format!("expected `module`, found {near:?}"),
        });
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modules_records_fields_and_docs() {
        let src = "// file header\n\n// the data module\nmodule a.b.data {\n  // an id\n  class Id {\n    ustring scheme; // the scheme\n    /* multi\n * line */\n    ustring id;\n  }\n  class L { vector<a.b.data.Id> ids; vector<vector<int>> m; long x; boolean y; byte z; buffer q; }\n}\n";
        let m = parse(src).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "a.b.data");
        assert_eq!(m[0].doc, vec!["the data module"]);
        let id = &m[0].records[0];
        assert_eq!(id.name, "Id");
        assert_eq!(id.doc, vec!["an id"]);
        assert_eq!(id.fields[0].doc, vec!["the scheme"]);
        assert_eq!(id.fields[1].doc, vec!["multi", "line"]);
        let l = &m[0].records[1];
        assert_eq!(
            l.fields[0].ty,
            Type::Vector(Box::new(Type::Record("a.b.data.Id".into())))
        );
        assert_eq!(
            l.fields[1].ty,
            Type::Vector(Box::new(Type::Vector(Box::new(Type::Int))))
        );
        assert_eq!(
            l.fields
                .iter()
                .map(|f| f.ty.clone())
                .skip(2)
                .collect::<Vec<_>>(),
            vec![Type::Long, Type::Boolean, Type::Byte, Type::Buffer]
        );
    }

    #[test]
    fn reports_the_position_of_an_error() {
        let err = parse("module a {\n  class X {\n    int ;\n  }\n}\n").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        let err = parse("module a { class X { int x; } }\nstray").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1), "{err}");
    }

    #[test]
    fn rejects_unsupported_types_and_unterminated_comments() {
        assert!(parse("module a { class X { float f; } }").is_err());
        assert!(parse("module a { class X { int f; } } /* open").is_err());
    }

    #[test]
    fn never_panics_on_garbage() {
        for s in [
            "",
            "{",
            "module",
            "module {",
            "class",
            "module a { class",
            "/*",
            "<>",
            "module a.{}",
        ] {
            let _ = parse(s);
        }
    }
}
