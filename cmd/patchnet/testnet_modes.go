package main

// The testnet modes register their runners with testnet.Register from
// init; importing them here makes `patchnet testnet --mode …` find them.
// The mode packages are merged from their own branches: add each one's
// blank import below as it lands.
//
//	import (
//		_ "github.com/patchnet/patchnet/testnet/netns"
//		_ "github.com/patchnet/patchnet/testnet/sim"
//	)
