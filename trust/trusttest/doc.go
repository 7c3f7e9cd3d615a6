// Package trusttest builds throw-away PKIs for tests: a root CA, zone CAs,
// members with fresh keys and leaf certificates, CRLs, and a fake clock. It
// issues through trust/ca's Authority, so test certificates have exactly the
// shape production ones have.
//
// It must only be imported from tests.
package trusttest
