"""PhoneNAS test suite (a regular package so ``tests.support`` wins over any installed ``tests``)."""
