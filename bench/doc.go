// Package bench holds the performance benchmarks of winrepart: bench/run.sh
// (apply beside the reference tools and the physical limit on sparse disk
// images of 64 GiB to 4 TiB), the measure command it times programs with,
// and Go benchmarks of inspecting, planning, applying and parsing. It has no
// API; README.md says how to run it and what each figure means.
//
// # Security
//
// The benchmarks read and write only the images they are pointed at, which
// bench/run.sh builds in a temporary directory; the reference pipeline
// (reference.sh) needs root for loop devices and changes only the image
// given to it.
package bench
