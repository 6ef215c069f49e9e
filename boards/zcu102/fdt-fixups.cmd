fdt addr ${fdt_addr_r}
fdt resize 0x1000
fdt set /axi/iommu@fd800000 status okay
fdt set /axi/iommu@fd800000 phandle <0x7e000001>
fdt set /axi/dma-controller@fd500000 iommus <0x7e000001 0x14e8>
fdt set /axi/dma-controller@fd510000 iommus <0x7e000001 0x14e9>
