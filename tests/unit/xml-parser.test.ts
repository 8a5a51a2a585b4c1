/**
 * The AWS SDK parses every S3 XML response with @aws-sdk/xml-builder's `parseXML`, which
 * patches/@aws-sdk+xml-builder+3.972.43.patch makes scan with indexOf/slice instead of growing strings a
 * character at a time (the verifier spent a third of its CPU there). The patch must not change a single
 * result: documents built with the SDK's own XmlNode/XmlText serializer, with every character class the
 * escaping handles, parse back to the shape the SDK's deserializers expect.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseXML, XmlNode, XmlText } from '@aws-sdk/xml-builder';
import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';

interface Leaf {
  tag: string;
  text: string;
}
interface Container {
  tag: string;
  attrs: [string, string][];
  children: Element[];
}
type Element = Leaf | Container;

const isLeaf = (e: Element): e is Leaf => 'text' in e;

/** Text with markup, entities' own characters, line breaks, non-ASCII and astral characters. */
const textChar = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '&',
  '<',
  '>',
  '"',
  "'",
  '\n',
  '\r',
  '\t',
  'é',
  '😀',
  ';',
  '#',
);
const text = fc.string({ unit: textChar, maxLength: 12 });
// Attribute names never collide with element names: the parser merges both into one object.
const tag = fc.constantFrom('Key', 'ETag', 'Size', 'Contents', 'Prefix', 'a-b', 'x.y');
const attr = fc.tuple(fc.constantFrom('xmlns', 'id', 'type'), fc.string({ unit: textChar, maxLength: 8 }));

const { element } = fc.letrec<{ element: Element; leaf: Leaf; container: Container }>((tie) => ({
  element: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('container')),
  leaf: fc.record({ tag, text }),
  container: fc.record({
    tag,
    attrs: fc.uniqueArray(attr, { maxLength: 2, selector: ([name]) => name }),
    children: fc.array(tie('element'), { maxLength: 4 }),
  }),
}));

function build(e: Element): XmlNode {
  if (isLeaf(e)) return new XmlNode(e.tag).c(new XmlText(e.text));
  const node = new XmlNode(e.tag);
  for (const [name, value] of e.attrs) node.addAttribute(name, value);
  for (const child of e.children) node.c(build(child));
  return node;
}

/** What the SDK's deserializers expect: text for a leaf, an object (repeated tags as arrays) otherwise. */
function expected(e: Element): unknown {
  if (isLeaf(e)) return e.text.trim() === '' && e.text.includes('\n') ? '' : e.text;
  if (e.children.length === 0 && e.attrs.length === 0) return '';
  const out: Record<string, unknown> = {};
  for (const child of e.children) {
    const value = expected(child);
    const seen = out[child.tag];
    if (seen === undefined && !(child.tag in out)) out[child.tag] = value;
    else out[child.tag] = Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  // Attribute values are not escaped for line breaks: the document's CR/CRLF become LF, as in text.
  for (const [name, value] of e.attrs) out[name] = value.replace(/\r\n?/g, '\n');
  return out;
}

/** The same document with a prolog, a comment and CRLF indentation between elements. */
function pretty(xml: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- s3 -->\r\n${xml.replace(/></g, '>\r\n  <')}`;
}

describe('@aws-sdk/xml-builder parseXML (patched)', () => {
  it('is the patched build, in both the CommonJS and the ES module copies', () => {
    const main = createRequire(import.meta.url).resolve('@aws-sdk/xml-builder');
    const root = join(dirname(main), '..');
    for (const file of ['dist-cjs/index.js', 'dist-es/xml-parser.js']) {
      expect(readFileSync(join(root, file), 'utf8')).toContain('s3-dr patch: scan with indexOf/slice');
    }
  });

  it('parses any document the SDK serializer writes back to the expected shape, compact or indented', () => {
    fc.assert(
      fc.property(element, (e) => {
        const xml = build(e).toString();
        const want = { [e.tag]: expected(e) };
        expect(parseXML(xml)).toEqual(want);
        // Indentation between elements is whitespace with a newline: ignored; but inside a leaf it
        // would be text, so only documents whose leaves keep their text are compared indented.
        if (!xml.includes('><') || /<[^/>]+><\/[^>]+>/.test(xml)) return;
        expect(parseXML(pretty(xml))).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses a ListObjectsV2 page with entities, CDATA, CRLF and self-closing elements', () => {
    const body = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
      '  <Name>source-bucket</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>',
      '  <Contents><Key>a &amp; b &lt;c&gt; &#233;&#xE9; 😀.txt</Key><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>',
      '    <Size>48</Size><StorageClass>STANDARD</StorageClass><Owner/></Contents>',
      '  <Contents><Key><![CDATA[raw <b> & co]]></Key><Size>0</Size></Contents>',
      '  <CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>',
      '  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>',
      '</ListBucketResult>',
    ].join('\r\n');
    expect(parseXML(body)).toEqual({
      ListBucketResult: {
        xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/',
        Name: 'source-bucket',
        Prefix: '',
        MaxKeys: '1000',
        IsTruncated: 'true',
        Contents: [
          {
            Key: 'a & b <c> éé 😀.txt',
            ETag: '"9b2cf535f27731c974343645a3985328"',
            Size: '48',
            StorageClass: 'STANDARD',
            Owner: '',
          },
          { Key: 'raw <b> & co', Size: '0' },
        ],
        CommonPrefixes: { Prefix: 'photos/' },
        NextContinuationToken: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
      },
    });
  });

  it('still rejects malformed documents with the SDK’s errors', () => {
    expect(() => parseXML('<a><b>text</a>')).toThrow(/mismatched tags|missing closing tag/);
    expect(() => parseXML('<a attr="unterminated>')).toThrow(/unexpected end of input|expected/);
    expect(() => parseXML('just text')).toThrow(/unexpected content/);
  });

  it('looks for a DOCTYPE without lower-casing the whole response (once per page: as costly as decoding it)', () => {
    const page = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>${'<Contents><Key>k</Key></Contents>'.repeat(2000)}</ListBucketResult>`;
    const lowerCase = jest.spyOn(String.prototype, 'toLowerCase');
    try {
      const parsed = parseXML(page) as { ListBucketResult: { Contents: unknown[] } };
      expect(parsed.ListBucketResult.Contents).toHaveLength(2000);
      const lengths = lowerCase.mock.contexts.map((s) => String(s).length);
      expect(Math.max(0, ...lengths)).toBeLessThan(20);
    } finally {
      lowerCase.mockRestore();
    }
  });
});
