"""The payments service: Double-entry ledger, consumer payments, producer settlement and pronto-pago advances."""
