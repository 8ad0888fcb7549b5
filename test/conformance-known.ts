// What test/conformance.test.ts holds the edge to in http-cache-tests, and the
// known gaps it lets through (as todo) until the product closes them. Each
// gap names its cause; `npm run conformance -- --id TEST-ID` shows a test's
// requests and responses on both sides of the edge. When a listed test starts
// passing, take it off: from then on it guards against a regression.

/** Suite groups covering what the edge claims: freshness, Age, Cache-Control, validation, conditionals, ranges. */
export const CLAIMED_GROUPS: ReadonlySet<string> = new Set([
  'cc-freshness', 'cc-parse', 'age-parse', 'expires', 'cc-response', 'conditional-lm', 'conditional-inm', 'update304', 'partial',
]);

// privateReason() passes every response with a Vary other than
// Accept-Encoding through unstored, so there is nothing to revalidate.
const VARY_UNSTORED = 'responses with Vary are never stored, so no conditional request carries the varied headers';

const SET_COOKIE = 'by design: a response with Set-Cookie is never stored or shared';

const WHOLE_OBJECTS = 'by design: the edge fetches and stores whole objects only; it stores no 206 and sends no Range upstream';

// RFC 9111 §4.3.2 compares If-Modified-Since with Date when there is no
// Last-Modified; Date is newer here, so 200 is right. Every implementation
// published with the suite fails it too.
const DISPUTED_IMS = 'suite expects 304 for an If-Modified-Since older than the stored Date; RFC 9111 §4.3.2 says 200';

const GAPS: ReadonlyArray<readonly [string, readonly string[]]> = [
  [VARY_UNSTORED, ['conditional-etag-vary-headers']],
  [SET_COOKIE, ['304-etag-update-response-Set-Cookie']],
  [WHOLE_OBJECTS, [
    'partial-store-partial-reuse-partial', 'partial-store-partial-reuse-partial-byterange',
    'partial-store-partial-reuse-partial-absent', 'partial-store-partial-reuse-partial-suffix',
    'partial-store-partial-complete',
  ]],
  [DISPUTED_IMS, ['conditional-lm-fresh-no-lm']],
];

/** Test id → why it does not pass yet. */
export const KNOWN_FAILURES: Readonly<Record<string, string>> = Object.fromEntries(
  GAPS.flatMap(([reason, ids]) => ids.map((id) => [id, reason] as const)),
);
