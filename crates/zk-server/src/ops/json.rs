//! JSON as the AdminServer's Jackson `DefaultPrettyPrinter` writes it: objects one member a
//! line indented by two spaces with `"key" : value`, arrays on one line as `[ a, b ]`, and
//! `{ }` / `[ ]` when empty. Scripts parse it as JSON; people diff it by eye.

use std::io;

use serde_json::ser::Formatter;

/// The Jackson-style formatter.
#[derive(Debug, Default)]
pub struct JacksonFormatter {
    indent: usize,
    /// Per open object: whether it has a member yet.
    members: Vec<bool>,
}

impl JacksonFormatter {
    fn newline<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.indent {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for JacksonFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        w.write_all(if first { b" " } else { b", " })
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent += 1;
        self.members.push(false);
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent = self.indent.saturating_sub(1);
        if self.members.pop().unwrap_or(false) {
            self.newline(w)?;
            w.write_all(b"}")
        } else {
            w.write_all(b" }")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(m) = self.members.last_mut() {
            *m = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }
}

/// `value` printed as Jackson's pretty printer prints it.
pub fn to_string(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JacksonFormatter::default());
    // Writing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(value, &mut ser);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_jackson() {
        let v = serde_json::json!({
            "connections": [],
            "dump": {},
            "ids": [1, 2],
            "server_stats": {"packets_sent": 0, "avg_latency": 0.0},
            "error": null
        });
        assert_eq!(
            to_string(&v),
            "{\n  \"connections\" : [ ],\n  \"dump\" : { },\n  \"ids\" : [ 1, 2 ],\n  \
             \"server_stats\" : {\n    \"packets_sent\" : 0,\n    \"avg_latency\" : 0.0\n  },\n  \
             \"error\" : null\n}"
        );
    }
}
