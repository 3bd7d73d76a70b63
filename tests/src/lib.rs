//! ferrite-tests: end-to-end tests that start real `ferrite-node` and `ferrite-wallet` processes
//! and talk to them over real sockets. The scenarios arrive with the node issues.
