// Package sysinfo describes the host it runs on in the five categories of the
// Teo–Zheng paper (section IV.C): meta information, hardware, operating
// system, software and services. It reads from a configurable filesystem root
// so containers, chroots and test fixtures are first-class.
//
// It must not send anything anywhere: inventory leaves the host only when the
// operator opts into reporting, and that decision belongs to node.
package sysinfo
