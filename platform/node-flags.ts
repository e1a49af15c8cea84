/**
 * V8 flags every service process starts with (they cannot go in NODE_OPTIONS, so each launcher passes
 * them: tests/support/processes.ts, the Dockerfile's ENTRYPOINT, `npm run service`; a unit test keeps
 * those in step with this list).
 *
 * A fixed 16 MB young generation: V8 otherwise grows it, and at 3,500 location updates/s the larger
 * scavenges paused the drivers subgraph for up to 43 ms at a time (p99 of the whole ingest path 110+ ms).
 * Fixed at 16 MB the longest scavenge measured 19 ms, at a few percent more GC time in total
 * (bench/README.md, "Ingest": the GC figures and how they were taken).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
