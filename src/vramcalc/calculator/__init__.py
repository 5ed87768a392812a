"""Pure calculations: inventory × format × request → numbers. No I/O, no printing."""
