// Command patchnet is the single patchnet binary (cobra). It owns argument
// parsing, configuration files and human-facing output (tables, progress,
// exit codes); it must not hold verification or installation logic of its
// own: every decision is made by trust, updates, sysinfo, overlay or node, so
// that the agent and the command line behave the same.
package main
