"""A throwaway Django app whose migrations hold ApplySQL; installed only by the tests here."""
