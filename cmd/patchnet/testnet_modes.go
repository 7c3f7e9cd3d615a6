package main

// The testnet modes register their runners with testnet.Register from
// init; importing them here makes `patchnet testnet --mode …` find them.
import (
	_ "github.com/patchnet/patchnet/testnet/netns"
	_ "github.com/patchnet/patchnet/testnet/sim"
)
