"""Configuring an external CA for a mesh's backend (`mzsim vault setup`, `mzsim acmpca setup`,
`mzsim certmanager setup`), shared by those commands, the demo, the tests and the benchmarks."""
