"""Operations on traces: filters, windows and masks (:mod:`.signal`), and the misfits with their adjoint sources (:mod:`.misfits`)."""
