// GBNF grammars: strings accepted and rejected, partial prefixes, Unicode classes, errors with
// line:column. The expectations follow GBNF's definition in llama.cpp's grammars/README.md.
import { Grammar, RingllmError } from "../../lib/index";

const cases: [string, string, string[], string[]][] = [
  ["literals and alternation", 'root ::= "yes" | "no" | "maybe"', ["yes", "no", "maybe"], ["", "ye", "yesno", "Yes"]],
  ["classes, ranges, negation", "root ::= [a-c] [^a-c] [0-9A-F]", ["ad0", "czF"], ["aa0", "ad", "adG", "dd0"]],
  ["repetition * + ? {m} {m,} {m,n}", 'root ::= "a"* "b"+ "c"? "d"{2} "e"{1,} "f"{1,3}', ["bddef", "aaabbcddeeefff"], ["ddef", "bdef", "bddf", "bddeffff"]],
  ["groups and nesting", 'root ::= ("ab" | "c" ("d" | "e")+)* "!"', ["!", "ab!", "cdede!", "abcdab!"], ["c!", "abc!", "ab"]],
  ["escapes", 'root ::= "\\x41\\u00e9\\n\\t\\"\\\\" [\\]\\-]', ['Aé\n\t"\\]', 'Aé\n\t"\\-'], ['Aé\n\t"\\a']],
  ["comments and line breaks", 'root ::= item ("," item)*  # a list\n# whole-line comment\nitem ::=\n  [a-z]+\n  | "(" root ")"\n', ["a,b", "(a,b),c"], ["a,", "(a"]],
  [".", 'root ::= "<" . . ">"', ["<ab>", "<é😀>"], ["<a>", "<\n\n>"]],
  ["Unicode classes beyond ASCII", "root ::= [α-ω]+ [\\U0001F600-\\U0001F64F]", ["αβγ😀", "ω🙏"], ["abc😀", "αβγ", "αβγ🚀"]],
  ["right recursion (arithmetic)", 'root ::= expr\nexpr ::= term ([-+] expr)?\nterm ::= [0-9]+ | "(" expr ")"', ["1+2-3", "(1+(2))-30"], ["1+", "(1", "+1"]],
  ["empty alternative", 'root ::= "x" opt "y"\nopt ::= "z" |', ["xy", "xzy"], ["xzzy"]],
  ["rule names with dashes, underscores and digits", 'root ::= a-b_2\na-b_2 ::= "ok"', ["ok"], ["ko"]],
];

describe.each(cases)("%s", (_name, text, accept, reject) => {
  const g = Grammar.fromGbnf(text);
  test.each(accept.map((a) => [a]))("accepts %j", (s) => expect(g.matches(s)).toBe(true));
  test.each(reject.map((r) => [r]))("rejects %j", (s) => expect(g.matches(s)).toBe(false));
  test("toGbnf gives the same grammar back", () => {
    const again = Grammar.fromGbnf(g.toGbnf());
    for (const s of [...accept, ...reject]) expect(again.matches(s)).toBe(g.matches(s));
  });
});

test("prefixes: every prefix of an accepted string keeps the matcher alive; only complete ones are complete", () => {
  const g = Grammar.fromGbnf('root ::= "{" ws "\\"k\\"" ws ":" ws [0-9]+ ws "}"\nws ::= [ ]*');
  const e = g.engine;
  const text = '{ "k" : 42 }';
  let s = e.initial;
  for (const [i, ch] of [...text].entries()) {
    expect(e.isComplete(s)).toBe(false);
    const next = e.acceptCodePoint(s, ch.codePointAt(0)!);
    expect({ i, alive: next !== null }).toEqual({ i, alive: true });
    s = next!;
  }
  expect(e.isComplete(s)).toBe(true);
  expect(e.acceptCodePoint(e.acceptCodePoint(e.initial, 0x7b)!, 0x78)).toBeNull(); // "{x"
});

test("UTF-8 bytes one at a time: a partial character is carried and checked against the classes", () => {
  const g = Grammar.fromGbnf("root ::= [é-ë]+");
  const e = g.engine;
  const bytes = Buffer.from("éë", "utf8");
  let s = e.initial;
  for (const b of bytes) s = e.acceptByte(s, b)!;
  expect(s).not.toBeNull();
  expect(e.isComplete(s)).toBe(true);
  // "ü" (C3 BC): the lead byte C3 could still start é-ë, the second byte cannot finish it
  const lead = e.acceptByte(e.initial, 0xc3)!;
  expect(lead).not.toBeNull();
  expect(e.isComplete(lead)).toBe(false);
  expect(e.acceptByte(lead, 0xbc)).toBeNull();
  // a lead byte of a 4-byte character cannot start anything in é-ë
  expect(e.acceptByte(e.initial, 0xf0)).toBeNull();
  expect(e.acceptByte(e.initial, 0x80)).toBeNull(); // a stray continuation byte
});

function invalid(text: string, root?: string): string {
  try {
    Grammar.fromGbnf(text, root ? { root } : undefined);
  } catch (err) {
    expect(err).toBeInstanceOf(RingllmError);
    expect((err as RingllmError).code).toBe("GRAMMAR_INVALID");
    return (err as Error).message;
  }
  throw new Error(`accepted: ${text}`);
}

test("invalid grammars are GRAMMAR_INVALID with line:column, never a hang", () => {
  expect(invalid('root ::= "a" b\n\nc ::= "x"')).toMatch(/1:14: rule "b" is used but never defined/);
  expect(invalid('start ::= "a"')).toMatch(/no rule named "root"/);
  expect(invalid('start ::= "a"', "begin")).toMatch(/no rule named "begin"/);
  expect(invalid('root ::= root "a" | "b"')).toMatch(/left recursion through root -> root/);
  expect(invalid('root ::= a\na ::= b "x"\nb ::= "c"? a')).toMatch(/left recursion/); // through a nullable prefix
  expect(invalid('root ::= ("x"?)* "y"')).toMatch(/left recursion/); // a repeated nullable group
  expect(invalid('root ::= "abc')).toMatch(/1:10: unterminated string literal/);
  expect(invalid('root ::= "a"\nroot ::= "b"')).toMatch(/2:1: rule "root" is defined twice/);
  expect(invalid('root ::= "\\q"')).toMatch(/1:11: unknown escape \\q/);
  expect(invalid("root ::= [z-a]")).toMatch(/reversed/);
  expect(invalid('root ::= "a" {2,1}')).toMatch(/maximum is below the minimum/);
  expect(invalid('root ::= "a"**')).toMatch(/cannot follow another/);
  expect(invalid('root = "a"')).toMatch(/1:6: expected "::="/);
  expect(invalid('root ::= ("a" | "b"')).toMatch(/expected "\)"/);
  expect(invalid("root ::= [abc")).toMatch(/unterminated character class/);
  expect(() => Grammar.fromGbnf(42 as unknown as string)).toThrow(/must be a string/);
});
