#!/usr/bin/env -S node --max-semi-space-size=4
// A young generation of 4 MiB, not V8's 16: scavenges come more often but
// each is a quarter as long, and the pause is what a hit's tail latency sees.
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2));
