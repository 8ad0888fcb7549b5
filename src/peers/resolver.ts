// The system's DNS, asked for A and AAAA records at once. A name with records
// of one family only is normal (NODATA for the other); a name with none at
// all is an empty replica set, not an error: a Service with no ready pods.
import dns from 'node:dns/promises';
import type { Resolver } from './membership.js';

const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

async function records(lookup: Promise<string[]>): Promise<string[]> {
  try {
    return await lookup;
  } catch (error) {
    if (NO_RECORDS.has((error as NodeJS.ErrnoException).code ?? '')) return [];
    throw error;
  }
}

export const systemResolver: Resolver = async (name) => {
  const [v4, v6] = await Promise.all([records(dns.resolve4(name)), records(dns.resolve6(name))]);
  return [...v4, ...v6];
};
