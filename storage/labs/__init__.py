"""Laboratory and rapid-test results checked against residue limits and banned substances."""
