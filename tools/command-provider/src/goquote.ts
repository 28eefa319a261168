// Go's strconv.Quote (what `%q` prints for a string), so error messages read like the
// real provider's `running %q:\n%s`.
const NON_PRINT = /[\p{C}\p{Z}]/u;

export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case "\\": out += "\\\\"; continue;
      case "\x07": out += "\\a"; continue;
      case "\b": out += "\\b"; continue;
      case "\f": out += "\\f"; continue;
      case "\n": out += "\\n"; continue;
      case "\r": out += "\\r"; continue;
      case "\t": out += "\\t"; continue;
      case "\v": out += "\\v"; continue;
    }
    if (ch === " " || !NON_PRINT.test(ch)) {
      out += ch;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += "\ufffd"; // a lone surrogate reaches Go as U+FFFD (printable)
    } else if (c < 0x80) {
      out += "\\x" + c.toString(16).padStart(2, "0");
    } else if (c < 0x10000) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else {
      out += "\\U" + c.toString(16).padStart(8, "0");
    }
  }
  return out + '"';
}
