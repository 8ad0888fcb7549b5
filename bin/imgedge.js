#!/usr/bin/env -S node --max-semi-space-size=2 --single-threaded-gc
// A young generation of 2 MiB, not V8's 16: scavenges come more often but
// each is shorter, and the pause is what a hit's tail latency sees. GC on the
// main thread only: an edge is given a core or so, and helper threads would
// only contend with it for that core.
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2));
