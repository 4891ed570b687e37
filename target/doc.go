// Package target parses what a scan is aimed at: target specifications (IPv4
// addresses, CIDR blocks, address ranges, comma lists, host names and -iL
// files) into a sorted set of merged address ranges, and port specifications
// into a sorted port list.
//
// Both sets map between a dense index and a value in both directions without
// allocating: [Set.At] and [Set.Index] in O(log ranges), [Ports.At] and
// [Ports.Index] in O(1). The scan engine walks indices in a permuted order and
// maps replies back to indices with them.
//
// Addresses are uint32 values in host order holding the numeric value of the
// address (198.19.0.1 is 0xC6130001).
package target
